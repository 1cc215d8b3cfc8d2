//! Monitoring rules of the default policy: every classification and stage boundary, every
//! signal threshold, level aggregation, provisions, and monotonicity in days past due; and that
//! the policy's `[monitoring]` tables, not the code, decide. (The significant-increase test reads
//! the example profile through the service's converters and stays in the root package.)

use proptest::prelude::*;
use riskdecision_core::domain::Amount;
use riskdecision_core::domain::application::CollateralKind;
use riskdecision_core::domain::monitoring::*;
use riskdecision_core::domain::profile::TaxRating;
use riskdecision_core::policy::{LoanClass, Policy, WarningLevel};
use time::macros::date;

const DATE: time::Date = date!(2026 - 11 - 30);

fn policy() -> Policy {
    Policy::embedded_default().expect("default policy")
}

fn loan() -> LoanSnapshot {
    LoanSnapshot {
        loan_id: "L1".into(),
        outstanding_principal: Amount::from_major(1_000_000),
        remaining_term_months: 24,
        ..LoanSnapshot::default()
    }
}

fn with_dpd(dpd: u32) -> LoanSnapshot {
    LoanSnapshot {
        principal_days_past_due: dpd,
        ..loan()
    }
}

/// A restructuring whose observation started on `start` (modified a month before), from
/// `class_before`, not restructured before.
fn restructured(start: time::Date, class_before: LoanClass) -> Restructuring {
    Restructuring {
        restructured_on: start - time::Duration::days(30),
        observation_start: start,
        class_before,
        previous_observation_start: None,
    }
}

fn run(l: &LoanSnapshot) -> MonitorResult {
    monitor(l, None, &policy(), DATE)
}

#[test]
fn days_past_due_boundaries() {
    use LoanClass::*;
    use WarningLevel::*;
    // (dpd, class, stage, level)
    let table = [
        (0, Normal, 1, Green),
        (1, SpecialMention, 2, Yellow),
        (7, SpecialMention, 2, Yellow),
        (8, SpecialMention, 2, Orange),
        (30, SpecialMention, 2, Orange),
        (31, SpecialMention, 2, Orange),
        (60, SpecialMention, 2, Orange),
        (61, SpecialMention, 2, Red),
        (90, SpecialMention, 2, Red),
        (91, Substandard, 3, Red),
        (180, Substandard, 3, Red),
        (270, Substandard, 3, Red),
        (271, Doubtful, 3, Red),
        (360, Doubtful, 3, Red),
        (361, Loss, 3, Red),
    ];
    for (dpd, class, stage, level) in table {
        let r = run(&with_dpd(dpd));
        assert_eq!(
            (r.classification, r.ifrs9_stage, r.warning_level),
            (class, stage, level),
            "dpd {dpd}"
        );
    }
}

#[test]
fn interest_arrears_count_like_principal_arrears() {
    let r = run(&LoanSnapshot {
        interest_days_past_due: 95,
        ..loan()
    });
    assert_eq!(r.classification, LoanClass::Substandard);
    assert_eq!(r.classification_rule.code, "CL04");
}

#[test]
fn technical_overdue_up_to_seven_days_stays_normal() {
    for dpd in [1, 7] {
        let r = run(&LoanSnapshot {
            principal_days_past_due: dpd,
            overdue_technical: true,
            ..loan()
        });
        assert_eq!((r.classification, r.ifrs9_stage), (LoanClass::Normal, 1), "dpd {dpd}");
        assert_eq!(r.classification_rule.code, "CL02");
    }
    let r = run(&LoanSnapshot {
        principal_days_past_due: 8,
        overdue_technical: true,
        ..loan()
    });
    assert_eq!(r.classification, LoanClass::SpecialMention, "8 days is never technical");
}

#[test]
fn stage_reasons_follow_the_backstops() {
    assert_eq!(run(&with_dpd(30)).stage_reason.code, "ST05"); // special mention
    assert_eq!(run(&with_dpd(31)).stage_reason.code, "ST02"); // > 30 dpd
    assert_eq!(run(&with_dpd(91)).stage_reason.code, "ST07"); // > 90 dpd
    let impaired = run(&LoanSnapshot {
        credit_impaired: true,
        ..loan()
    });
    assert_eq!(
        (
            impaired.classification,
            impaired.ifrs9_stage,
            impaired.stage_reason.code.as_str()
        ),
        (LoanClass::Substandard, 3, "ST08")
    );
}

#[test]
fn qualitative_triggers_push_the_class_down() {
    let cases: Vec<(LoanSnapshot, LoanClass, &str)> = vec![
        (
            LoanSnapshot {
                restructuring: Some(restructured(date!(2026 - 03 - 01), LoanClass::SpecialMention)),
                ..loan()
            },
            LoanClass::SpecialMention,
            "CL07",
        ),
        (
            LoanSnapshot {
                restructuring: Some(restructured(date!(2026 - 03 - 01), LoanClass::Substandard)),
                ..loan()
            },
            LoanClass::Substandard,
            "CL08",
        ),
        (
            LoanSnapshot {
                // Observation started 2025-11-30: twelve months have passed on 2026-11-30.
                restructuring: Some(restructured(date!(2025 - 11 - 30), LoanClass::Doubtful)),
                ..loan()
            },
            LoanClass::Normal,
            "CL01",
        ),
        (
            LoanSnapshot {
                credit_impaired: true,
                ..loan()
            },
            LoanClass::Substandard,
            "CL09",
        ),
        (
            LoanSnapshot {
                repaid_by_new_borrowing: true,
                ..loan()
            },
            LoanClass::SpecialMention,
            "CL10",
        ),
        (
            LoanSnapshot {
                unapproved_purpose_change: true,
                ..loan()
            },
            LoanClass::SpecialMention,
            "CL11",
        ),
        (
            LoanSnapshot {
                share_of_debt_over_90_dpd: Some(0.20),
                ..loan()
            },
            LoanClass::Normal,
            "CL01",
        ),
        (
            LoanSnapshot {
                share_of_debt_over_90_dpd: Some(0.21),
                ..loan()
            },
            LoanClass::Substandard,
            "CL13",
        ),
    ];
    for (l, class, code) in cases {
        let r = run(&l);
        assert_eq!(
            (r.classification, r.classification_rule.code.as_str()),
            (class, code),
            "{l:?}"
        );
    }
}

#[test]
fn other_bank_npl_rule_order_and_restructured_stage() {
    let npl = run(&LoanSnapshot {
        signals: Signals {
            other_bank_npl: true,
            ..Signals::default()
        },
        ..loan()
    });
    assert_eq!(npl.classification, LoanClass::SpecialMention);
    assert_eq!(npl.warning_level, WarningLevel::Red);
    // The first rule at the worst class decides: dpd before triggers.
    let both = run(&LoanSnapshot {
        principal_days_past_due: 100,
        credit_impaired: true,
        ..loan()
    });
    assert_eq!(both.classification_rule.code, "CL04");
    assert!(both.classification_rules.iter().any(|r| r.code == "CL09"));
    let restructured = run(&LoanSnapshot {
        restructuring: Some(restructured(date!(2026 - 03 - 01), LoanClass::Normal)),
        ..loan()
    });
    assert_eq!(
        (restructured.ifrs9_stage, restructured.stage_reason.code.as_str()),
        (2, "ST05")
    );
}

fn signal_level(signals: Signals) -> WarningLevel {
    run(&LoanSnapshot { signals, ..loan() }).warning_level
}

#[test]
fn revenue_and_tax_signal_thresholds() {
    use WarningLevel::*;
    let s = Signals::default;
    let revenue = |x| {
        signal_level(Signals {
            revenue_change: Some(x),
            ..s()
        })
    };
    assert_eq!(
        [
            revenue(-0.19),
            revenue(-0.20),
            revenue(-0.34),
            revenue(-0.35),
            revenue(-0.49),
            revenue(-0.50)
        ],
        [Green, Yellow, Yellow, Orange, Orange, Red]
    );
    let tax = |x| {
        signal_level(Signals {
            tax_paid_change: Some(x),
            ..s()
        })
    };
    assert_eq!(
        [tax(-0.29), tax(-0.30), tax(-0.50), tax(-0.99)],
        [Green, Yellow, Orange, Orange]
    );
}

#[test]
fn inflow_and_electricity_signal_thresholds() {
    use WarningLevel::*;
    let s = Signals::default;
    let inflow = |x| {
        signal_level(Signals {
            bank_inflow_change: Some(x),
            ..s()
        })
    };
    assert_eq!(
        [inflow(-0.29), inflow(-0.30), inflow(-0.50), inflow(-0.70)],
        [Green, Yellow, Orange, Red]
    );
    assert_eq!(
        signal_level(Signals {
            settlement_account_closed: true,
            ..s()
        }),
        Red
    );
    let power = |x| {
        signal_level(Signals {
            electricity_change: Some(x),
            ..s()
        })
    };
    assert_eq!(
        [power(-0.24), power(-0.25), power(-0.40), power(-0.60)],
        [Green, Yellow, Orange, Red]
    );
    assert_eq!(
        signal_level(Signals {
            electricity_supply_cut: true,
            ..s()
        }),
        Red
    );
}

#[test]
fn borrowing_and_leverage_signal_thresholds() {
    use WarningLevel::*;
    let s = Signals::default;
    let lenders = |n| {
        signal_level(Signals {
            new_lenders_6m: Some(n),
            ..s()
        })
    };
    assert_eq!([lenders(2), lenders(3), lenders(4)], [Green, Yellow, Orange]);
    let inquiries = |n| {
        signal_level(Signals {
            inquiries_6m: Some(n),
            ..s()
        })
    };
    assert_eq!([inquiries(5), inquiries(6), inquiries(9)], [Green, Yellow, Orange]);
    let leverage = |now, was| {
        signal_level(Signals {
            debt_to_assets: Some(now),
            origination_debt_to_assets: was,
            ..s()
        })
    };
    assert_eq!(
        [
            leverage(0.60, Some(0.51)),
            leverage(0.61, Some(0.51)),
            leverage(0.85, None),
            leverage(0.86, None),
            leverage(0.91, None)
        ],
        [Green, Yellow, Green, Orange, Red]
    );
}

#[test]
fn tax_rating_and_litigation_signals() {
    use WarningLevel::*;
    let s = Signals::default;
    let rating = |now, was| {
        signal_level(Signals {
            tax_rating: Some(now),
            origination_tax_rating: was,
            ..s()
        })
    };
    assert_eq!(rating(TaxRating::M, Some(TaxRating::B)), Yellow);
    assert_eq!(rating(TaxRating::M, Some(TaxRating::M)), Green);
    assert_eq!(rating(TaxRating::C, Some(TaxRating::A)), Orange);
    assert_eq!(rating(TaxRating::D, Some(TaxRating::C)), Red);
    assert_eq!(
        signal_level(Signals {
            litigation: Litigation::NewCase,
            ..s()
        }),
        Yellow
    );
    assert_eq!(
        signal_level(Signals {
            litigation: Litigation::Material,
            ..s()
        }),
        Orange
    );
    assert_eq!(
        signal_level(Signals {
            litigation: Litigation::DishonestOrFrozen,
            ..s()
        }),
        Red
    );
}

#[test]
fn guarantor_related_party_and_control_signals() {
    use WarningLevel::*;
    let s = Signals::default;
    assert_eq!(
        signal_level(Signals {
            guarantor: GuarantorStatus::Downgraded,
            ..s()
        }),
        Yellow
    );
    assert_eq!(
        signal_level(Signals {
            guarantor: GuarantorStatus::Overdue,
            ..s()
        }),
        Orange
    );
    assert_eq!(
        signal_level(Signals {
            guarantor: GuarantorStatus::InsolventOrWithdrawn,
            ..s()
        }),
        Red
    );
    assert_eq!(
        signal_level(Signals {
            related_party_default: true,
            ..s()
        }),
        Orange
    );
    assert_eq!(
        signal_level(Signals {
            control_change: ControlChange::Changed,
            ..s()
        }),
        Yellow
    );
    assert_eq!(
        signal_level(Signals {
            control_change: ControlChange::ControllerUnreachable,
            ..s()
        }),
        Red
    );
}

#[test]
fn control_change_escalation_and_covenants() {
    use WarningLevel::*;
    let s = Signals::default;
    // A control change with any other yellow is orange on its own, and two families make orange.
    let r = run(&LoanSnapshot {
        signals: Signals {
            control_change: ControlChange::Changed,
            litigation: Litigation::NewCase,
            ..s()
        },
        ..loan()
    });
    assert_eq!(r.warning_level, Orange);
    assert!(r.signals.iter().any(|x| x.code == "W08" && x.level == Orange));
    let covenants = |n| {
        run(&LoanSnapshot {
            covenant_breaches: n,
            ..loan()
        })
        .warning_level
    };
    assert_eq!([covenants(0), covenants(1), covenants(2)], [Green, Yellow, Orange]);
}

#[test]
fn collateral_coverage_thresholds() {
    use WarningLevel::*;
    // Residential real estate has a 30% lending haircut: value v covers 0.7 v.
    let level = |value: i64, lost| {
        run(&LoanSnapshot {
            collateral: vec![CollateralValuation {
                kind: CollateralKind::ResidentialRealEstate,
                current_value: Amount::from_major(value),
                prior_liens: Amount::ZERO,
                lost_or_disputed: lost,
            }],
            ..loan()
        })
    };
    let r = level(1_580_000, false); // 1.106
    assert_eq!(r.warning_level, Green);
    assert!((r.collateral_coverage - 1.106).abs() < 1e-9);
    assert_eq!(level(1_570_000, false).warning_level, Yellow); // 1.099
    assert_eq!(level(1_420_000, false).warning_level, Orange); // 0.994
    assert_eq!(level(1_140_000, false).warning_level, Red); // 0.798
    assert_eq!(level(5_000_000, true).warning_level, Red);
}

#[test]
fn aggregation_two_yellows_orange_two_oranges_red() {
    use WarningLevel::*;
    let two_yellows = Signals {
        revenue_change: Some(-0.2),
        litigation: Litigation::NewCase,
        ..Signals::default()
    };
    assert_eq!(signal_level(two_yellows), Orange);
    let same_family = Signals {
        tax_paid_change: Some(-0.3),
        tax_rating: Some(TaxRating::M),
        origination_tax_rating: Some(TaxRating::B),
        ..Signals::default()
    };
    assert_eq!(
        signal_level(same_family),
        Yellow,
        "two yellows in one family stay yellow"
    );
    let two_oranges = Signals {
        revenue_change: Some(-0.35),
        litigation: Litigation::Material,
        ..Signals::default()
    };
    assert_eq!(signal_level(two_oranges), Red);
    let orange = run(&LoanSnapshot {
        signals: Signals {
            revenue_change: Some(-0.35),
            ..Signals::default()
        },
        ..loan()
    });
    assert_eq!(
        (orange.classification, orange.ifrs9_stage),
        (LoanClass::SpecialMention, 2),
        "orange: at least special mention, stage 2"
    );
    let codes: Vec<&str> = orange.recommended_actions.iter().map(|a| a.code.as_str()).collect();
    assert_eq!(codes, ["A01", "A05", "A06", "A07", "A08"]);
    assert!(run(&loan()).recommended_actions.is_empty());
}

#[test]
fn provisions_and_expected_credit_loss() {
    let p = policy();
    let normal = run(&loan());
    assert_eq!(normal.provision_rate_bps, 100);
    assert_eq!(normal.regulatory_provision, Amount::from_major(10_000));
    // Stage 1 with no PD known: the policy's fallback 2% x 45% x 1,000,000.
    assert_eq!(normal.expected_credit_loss, Amount::from_major(9_000));
    assert_eq!(normal.provision_required, Amount::from_major(10_000));
    let loss = run(&with_dpd(400));
    assert_eq!(
        (loss.provision_rate_bps, loss.regulatory_provision),
        (10_000, Amount::from_major(1_000_000))
    );
    assert_eq!(
        loss.expected_credit_loss,
        Amount::from_major(450_000),
        "stage 3: PD 100% x LGD 45%"
    );
    let with_undrawn = run(&LoanSnapshot {
        undrawn_commitment: Amount::from_major(500_000),
        ..loan()
    });
    assert_eq!(
        with_undrawn.exposure_at_default,
        Amount::from_major(1_200_000),
        "40% CCF on undrawn"
    );
    // Stage 2 uses a lifetime PD: 1 - (1 - 2%)^2 over 24 months.
    let stage2 = run(&with_dpd(31));
    let lifetime = 1.0 - 0.98f64.powi(2);
    assert_eq!(
        stage2.expected_credit_loss,
        Amount((100_000_000.0 * lifetime * 0.45).round() as i64)
    );
    for (class, bps) in [
        (LoanClass::SpecialMention, 200),
        (LoanClass::Substandard, 2500),
        (LoanClass::Doubtful, 5000),
    ] {
        assert_eq!(p.monitoring.provision_bps[&class], bps);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// More days past due never gives a better class, stage or warning level.
    #[test]
    fn more_days_past_due_is_never_better(
        a in 0u32..800,
        extra in 0u32..400,
        technical: bool,
        restructured: bool,
        impaired: bool,
        revenue in proptest::option::of(-1.0f64..0.5),
        litigation in 0usize..4,
    ) {
        let p = policy();
        let signals = Signals {
            revenue_change: revenue,
            litigation: [Litigation::None, Litigation::NewCase, Litigation::Material, Litigation::DishonestOrFrozen][litigation],
            ..Signals::default()
        };
        let restructuring = restructured.then(|| self::restructured(date!(2026 - 03 - 01), LoanClass::SpecialMention));
        let base = LoanSnapshot { overdue_technical: technical, restructuring, credit_impaired: impaired, signals, ..loan() };
        let lo = monitor(&LoanSnapshot { principal_days_past_due: a, ..base.clone() }, None, &p, DATE);
        let hi = monitor(&LoanSnapshot { principal_days_past_due: a + extra, ..base }, None, &p, DATE);
        prop_assert!(hi.classification >= lo.classification, "class {:?} -> {:?}", lo.classification, hi.classification);
        prop_assert!(hi.ifrs9_stage >= lo.ifrs9_stage);
        prop_assert!(hi.warning_level >= lo.warning_level);
        prop_assert!(hi.provision_required >= lo.provision_required);
    }
}

/// The default policy with the one line setting `key` replaced by `key = value`.
fn policy_with(key: &str, value: &str) -> Policy {
    let text = riskdecision_core::policy::default_policy_with(key, value).expect("one line sets the key");
    Policy::from_toml(&text).expect("the changed policy is valid")
}

fn level_under(p: &Policy, signals: Signals) -> WarningLevel {
    monitor(&LoanSnapshot { signals, ..loan() }, None, p, DATE).warning_level
}

#[test]
fn signal_levels_come_from_the_policy_tables() {
    use WarningLevel::*;
    let new_case = Signals {
        litigation: Litigation::NewCase,
        ..Signals::default()
    };
    assert_eq!(level_under(&policy(), new_case.clone()), Yellow);
    let p = policy_with(
        "litigation",
        "{ new_case = \"orange\", material = \"orange\", dishonest_or_frozen = \"red\" }",
    );
    assert_eq!(level_under(&p, new_case), Orange);

    let m_unknown = Signals {
        tax_rating: Some(TaxRating::M),
        ..Signals::default()
    };
    assert_eq!(
        level_under(&policy(), m_unknown.clone()),
        Green,
        "M from unknown: no downgrade"
    );
    let p = policy_with(
        "tax_rating",
        "{ M = { level = \"yellow\", when = \"downgrade_or_unknown\" } }",
    );
    assert_eq!(level_under(&p, m_unknown), Yellow);

    let cut = Signals {
        electricity_supply_cut: true,
        ..Signals::default()
    };
    assert_eq!(
        level_under(&policy_with("electricity_supply_cut", "\"orange\""), cut),
        Orange
    );
    let changed = Signals {
        control_change: ControlChange::Changed,
        ..Signals::default()
    };
    let p = policy_with(
        "control_change",
        "{ changed = \"orange\", changed_with_other_signal = \"red\", controller_unreachable = \"red\" }",
    );
    assert_eq!(level_under(&p, changed), Orange);
}

#[test]
fn family_escalation_comes_from_the_policy() {
    let two_yellows = Signals {
        revenue_change: Some(-0.2),
        litigation: Litigation::NewCase,
        ..Signals::default()
    };
    assert_eq!(level_under(&policy(), two_yellows.clone()), WarningLevel::Orange);
    let p = policy_with("family_escalation", "[]");
    assert_eq!(level_under(&p, two_yellows.clone()), WarningLevel::Yellow);
    let p = policy_with(
        "family_escalation",
        "[{ families = 2, at_least = \"yellow\", raise_to = \"red\" }]",
    );
    assert_eq!(level_under(&p, two_yellows), WarningLevel::Red);
}

#[test]
fn trigger_classes_and_stage_inputs_come_from_the_policy() {
    let impaired = LoanSnapshot {
        credit_impaired: true,
        ..loan()
    };
    let p = policy_with("credit_impaired_min_class", "\"doubtful\"");
    let r = monitor(&impaired, None, &p, DATE);
    assert_eq!(
        (r.classification, r.classification_rule.code.as_str()),
        (LoanClass::Doubtful, "CL09")
    );

    let p = policy_with("stage3_pd_bps", "5000");
    let loss = monitor(&with_dpd(400), None, &p, DATE);
    assert_eq!(
        loss.expected_credit_loss,
        Amount::from_major(225_000),
        "PD 50% x LGD 45%"
    );

    // 24 months remaining, but the policy's horizon is at least 36: 1 - (1 - 2%)^3.
    let p = policy_with("lifetime_pd_min_months", "36");
    let stage2 = monitor(&with_dpd(31), None, &p, DATE);
    let lifetime = 1.0 - 0.98f64.powi(3);
    assert_eq!(
        stage2.expected_credit_loss,
        Amount((100_000_000.0 * lifetime * 0.45).round() as i64)
    );

    let orange = LoanSnapshot {
        signals: Signals {
            revenue_change: Some(-0.35),
            ..Signals::default()
        },
        ..loan()
    };
    assert_eq!(monitor(&orange, None, &policy(), DATE).ifrs9_stage, 2);
    let p = policy_with("stage2_from_warning", "\"red\"");
    let p = Policy {
        monitoring: riskdecision_core::policy::Monitoring {
            orange_min_class: LoanClass::Normal,
            ..p.monitoring
        },
        ..p
    };
    assert_eq!(monitor(&orange, None, &p, DATE).ifrs9_stage, 1);
}

// ---------------------------------------------------------------------------------------------
// Issue 12, monitoring: migration since origination, technical delays, restructuring, expected
// loss, external rating, the debtor-level rule and the figures every rule shows.

#[path = "common/mod.rs"]
mod common;

use riskdecision_core::domain::decision::score_profile;
use riskdecision_core::domain::figure::{Figure, FigureValue};

/// The worked example profile, weakened until it scores G8 (575-589): tax rating M, leverage
/// 84% (just inside K12's 85%), a thin margin and interest coverage.
fn g8_profile() -> riskdecision_core::domain::profile::EnterpriseProfile {
    let mut p = common::worked_example_profile();
    p.financials.total_liabilities = Amount::from_major(1_680_000);
    p.financials.net_profit = Amount::from_major(10_000);
    p.financials.ebit = Amount::from_major(60_000);
    p.financials.current_assets = Amount::from_major(900_000);
    if let Some(t) = p.tax.as_mut() {
        t.credit_rating = Some(TaxRating::M);
    }
    p
}

fn number(figures: &[Figure], name: &str) -> Option<f64> {
    figures.iter().find(|f| f.name == name).and_then(|f| match f.value {
        FigureValue::Number(x) => Some(x),
        _ => None,
    })
}

#[test]
fn a_loan_just_approved_at_g8_is_green_normal_stage_1() {
    let p = policy();
    let profile = g8_profile();
    let scored = score_profile(&profile, &p, common::EVAL_DATE);
    assert_eq!(scored.scorecard.grade, "G8", "score {}", scored.scorecard.score);
    // Approved at G8 with its PD, 84% leverage, M rating, and collateral covering 60% of the
    // loan after haircuts (the rest lent as the grade's unsecured allowance).
    let loan = LoanSnapshot {
        origination_grade: scored.scorecard.grade_index,
        origination_score: Some(scored.scorecard.score),
        origination_pd: Some(scored.scorecard.pd),
        collateral: vec![CollateralValuation {
            kind: CollateralKind::ResidentialRealEstate,
            current_value: Amount::from_major(857_143),
            prior_liens: Amount::ZERO,
            lost_or_disputed: false,
        }],
        origination_collateral_coverage: Some(0.6),
        signals: Signals {
            debt_to_assets: Some(0.84),
            origination_debt_to_assets: Some(0.84),
            tax_rating: Some(TaxRating::M),
            origination_tax_rating: Some(TaxRating::M),
            ..Signals::default()
        },
        ..loan()
    };
    let r = monitor(&loan, Some(&profile), &p, common::EVAL_DATE);
    assert_eq!(
        (r.warning_level, r.classification, r.ifrs9_stage),
        (WarningLevel::Green, LoanClass::Normal, 1),
        "{:?} / {:?} / {:?}",
        r.signals,
        r.classification_rule,
        r.stage_reason
    );
    // Migration still fires: the grade now G8 from G5 at origination is orange, coverage that
    // fell by a third since origination is orange.
    let from_g5 = monitor(
        &LoanSnapshot {
            origination_grade: p.grade_index("G5"),
            ..loan.clone()
        },
        Some(&profile),
        &p,
        common::EVAL_DATE,
    );
    let w12 = from_g5.signals.iter().find(|s| s.code == "W12").expect("W12");
    assert_eq!(w12.level, WarningLevel::Orange);
    assert!(
        w12.thresholds
            .iter()
            .any(|t| t.name == "orange_grades" && t.value == FigureValue::Text("G8".into()))
    );
    assert!(
        w12.figures
            .iter()
            .any(|f| f.name == "origination_grade" && f.value == FigureValue::Text("G5".into()))
    );
    let fallen = monitor(
        &LoanSnapshot {
            origination_collateral_coverage: Some(0.9),
            ..loan
        },
        Some(&profile),
        &p,
        common::EVAL_DATE,
    );
    let w09 = fallen.signals.iter().find(|s| s.code == "W09").expect("W09");
    assert_eq!(w09.level, WarningLevel::Orange, "{w09:?}");
    assert_eq!(number(&w09.thresholds, "collateral_coverage_fall.orange"), Some(0.30));
    assert!((number(&w09.figures, "collateral_coverage_fall").expect("fall") - 1.0 / 3.0).abs() < 1e-6);
}

#[test]
fn leverage_backstop_starts_above_what_k12_admits() {
    let e = Policy::from_toml(
        &riskdecision_core::policy::default_policy_with("debt_to_assets_above", "{ orange = 0.80, red = 0.90 }")
            .expect("one line"),
    )
    .expect_err("below K12's ceiling");
    assert!(
        e.0.iter().any(|e| e.field == "monitoring.warning.debt_to_assets_above"),
        "{e:?}"
    );
    let e = Policy::from_toml(
        &riskdecision_core::policy::default_policy_with("collateral_coverage_fall", "{ yellow = 0.3, orange = 1.5 }")
            .expect("one line"),
    )
    .expect_err("a fall is a fraction below 1");
    assert!(
        e.0.iter()
            .any(|e| e.field == "monitoring.warning.collateral_coverage_fall"),
        "{e:?}"
    );
}

#[test]
fn a_technical_delay_does_not_escalate_to_special_mention() {
    // A flagged 5-day technical delay and a yellow revenue drop: one yellow family, not two.
    let r = run(&LoanSnapshot {
        principal_days_past_due: 5,
        overdue_technical: true,
        signals: Signals {
            revenue_change: Some(-0.25),
            ..Signals::default()
        },
        ..loan()
    });
    assert_eq!(
        (r.warning_level, r.classification, r.ifrs9_stage),
        (WarningLevel::Yellow, LoanClass::Normal, 1),
        "{:?}",
        r.signals
    );
    assert!(r.signals.iter().all(|s| s.code != "W01"));
    // Not flagged technical, the same 5 days are a delinquency signal.
    let r = run(&LoanSnapshot {
        principal_days_past_due: 5,
        signals: Signals {
            revenue_change: Some(-0.25),
            ..Signals::default()
        },
        ..loan()
    });
    assert_eq!(r.warning_level, WarningLevel::Orange);
}

#[test]
fn restructured_assets_follow_the_observation_dates() {
    let p = policy();
    let on = |date, class_before| {
        monitor(
            &LoanSnapshot {
                restructuring: Some(restructured(date!(2026 - 01 - 15), class_before)),
                ..loan()
            },
            None,
            &p,
            date,
        )
    };
    // A doubtful loan restructured: not upgraded while the observation runs (to 2027-01-15).
    let during = on(date!(2027 - 01 - 14), LoanClass::Doubtful);
    assert_eq!(
        (during.classification, during.classification_rule.code.as_str()),
        (LoanClass::Doubtful, "CL08")
    );
    assert_eq!(
        number(
            &during.classification_rule.thresholds,
            "restructuring_observation_months"
        ),
        Some(12.0)
    );
    let after = on(date!(2027 - 01 - 15), LoanClass::Doubtful);
    assert_eq!((after.classification, after.ifrs9_stage), (LoanClass::Normal, 1));
    // Restructured again five months into the previous observation period: at least doubtful.
    let again = monitor(
        &LoanSnapshot {
            restructuring: Some(Restructuring {
                previous_observation_start: Some(date!(2025 - 08 - 15)),
                ..restructured(date!(2026 - 01 - 15), LoanClass::SpecialMention)
            }),
            ..loan()
        },
        None,
        &p,
        DATE,
    );
    assert_eq!(
        (again.classification, again.classification_rule.code.as_str()),
        (LoanClass::Doubtful, "CL16")
    );
    // The observation period is the policy's: 24 months keep it under observation.
    let longer = policy_with("restructuring_observation_months", "24");
    let r = monitor(
        &LoanSnapshot {
            restructuring: Some(restructured(date!(2025 - 01 - 15), LoanClass::Normal)),
            ..loan()
        },
        None,
        &longer,
        DATE,
    );
    assert_eq!(
        (r.classification_rule.code.as_str(), r.stage_reason.code.as_str()),
        ("CL07", "ST05")
    );
}

#[test]
fn expected_loss_and_external_downgrade_feed_the_class() {
    let impaired = |assessed: i64| LoanSnapshot {
        credit_impaired: true,
        assessed_credit_loss: Some(Amount::from_major(assessed)),
        ..loan()
    };
    let r = run(&impaired(490_000));
    assert_eq!(r.classification, LoanClass::Substandard);
    let r = run(&impaired(500_000));
    assert_eq!(
        (r.classification, r.classification_rule.code.as_str()),
        (LoanClass::Doubtful, "CL17")
    );
    assert_eq!(
        number(&r.classification_rule.thresholds, "ecl_ratio_doubtful"),
        Some(0.5)
    );
    assert_eq!(r.expected_credit_loss, Amount::from_major(500_000));
    assert_eq!(r.provision_rate_bps, 5000);
    let r = run(&impaired(900_000));
    assert_eq!(r.classification, LoanClass::Loss);
    // Not credit-impaired: an assessed loss alone does not classify.
    let r = run(&LoanSnapshot {
        assessed_credit_loss: Some(Amount::from_major(900_000)),
        ..loan()
    });
    assert_eq!(r.classification, LoanClass::Normal);
    let downgraded = |n| {
        run(&LoanSnapshot {
            signals: Signals {
                external_rating_notches_down: Some(n),
                ..Signals::default()
            },
            ..loan()
        })
    };
    assert_eq!(downgraded(2).classification, LoanClass::Normal);
    let r = downgraded(3);
    assert_eq!(
        (r.classification, r.classification_rule.code.as_str()),
        (LoanClass::Substandard, "CL18")
    );
}

#[test]
fn debtor_level_rule_makes_all_claims_non_performing() {
    let claim = |class, yuan| DebtorClaim {
        loan_id: "L2".into(),
        class,
        exposure: Amount::from_major(yuan),
    };
    // 100,000 of 1,100,000 is 9.1% non-performing: under 10%.
    let r = run(&LoanSnapshot {
        other_claims: vec![claim(LoanClass::Substandard, 100_000)],
        ..loan()
    });
    assert_eq!(r.classification, LoanClass::Normal);
    // 120,000 of 1,120,000 is 10.7%: every claim at least substandard.
    let r = run(&LoanSnapshot {
        other_claims: vec![claim(LoanClass::Doubtful, 120_000), claim(LoanClass::Normal, 0)],
        ..loan()
    });
    assert_eq!(
        (r.classification, r.classification_rule.code.as_str()),
        (LoanClass::Substandard, "CL19")
    );
    let share = number(&r.classification_rule.figures, "npl_share_of_claims").expect("share");
    assert!((share - 120_000.0 / 1_120_000.0).abs() < 1e-9);
    assert_eq!(
        number(&r.classification_rule.thresholds, "debtor_npl_share"),
        Some(0.10)
    );
    assert_eq!(r.ifrs9_stage, 3);
}

#[test]
fn regulatory_ceilings_are_refused_at_load() {
    for (key, value) in [
        ("substandard_from_dpd", "92"),
        ("doubtful_from_dpd", "272"),
        ("loss_from_dpd", "362"),
        ("technical_dpd_max", "8"),
        ("stage2_from_dpd", "32"),
        ("stage3_from_dpd", "92"),
        ("ecl_ratio_doubtful", "0.55"),
        ("ecl_ratio_loss", "0.95"),
        ("debtor_npl_share", "0.15"),
        ("restructuring_observation_months", "6"),
        ("restructured_again_min_class", "\"substandard\""),
        ("debtor_npl_min_class", "\"special_mention\""),
        ("external_downgrade_notches", "0"),
    ] {
        let text = riskdecision_core::policy::default_policy_with(key, value).expect("one line");
        let e = Policy::from_toml(&text).expect_err(key);
        let field = format!("monitoring.{key}");
        assert!(e.0.iter().any(|e| e.field == field && e.line > 0), "{key}: {e:?}");
    }
}

#[test]
fn every_signal_and_rule_shows_its_figures_and_thresholds() {
    let r = run(&LoanSnapshot {
        principal_days_past_due: 40,
        covenant_breaches: 2,
        signals: Signals {
            revenue_change: Some(-0.36),
            tax_paid_change: Some(-0.31),
            tax_rating: Some(TaxRating::C),
            origination_tax_rating: Some(TaxRating::B),
            bank_inflow_change: Some(-0.3),
            settlement_account_closed: true,
            electricity_change: Some(-0.3),
            electricity_supply_cut: true,
            litigation: Litigation::Material,
            control_change: ControlChange::Changed,
            guarantor: GuarantorStatus::Overdue,
            related_party_default: true,
            other_bank_npl: true,
            debt_to_assets: Some(0.95),
            new_lenders_6m: Some(4),
            inquiries_6m: Some(6),
            ..Signals::default()
        },
        collateral: vec![CollateralValuation {
            kind: CollateralKind::ResidentialRealEstate,
            current_value: Amount::from_major(100_000),
            prior_liens: Amount::ZERO,
            lost_or_disputed: true,
        }],
        ..loan()
    });
    let mut codes: Vec<&str> = r.signals.iter().map(|s| s.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let all = [
        "W01", "W02", "W03", "W04", "W05", "W06", "W07", "W08", "W09", "W10", "W11", "W13", "W14", "W15", "W16",
    ];
    assert_eq!(codes, all);
    for s in &r.signals {
        assert!(!s.figures.is_empty() && !s.thresholds.is_empty(), "{s:?}");
    }
    let w01 = r.signals.iter().find(|s| s.code == "W01").expect("W01");
    assert_eq!(number(&w01.thresholds, "dpd.orange"), Some(8.0));
    for rule in r.classification_rules.iter().chain([&r.stage_reason]) {
        assert!(!rule.figures.is_empty() && !rule.thresholds.is_empty(), "{rule:?}");
    }
    assert_eq!(number(&r.stage_reason.thresholds, "stage2_from_dpd"), Some(31.0));
    let cl03 = &r.classification_rules[0];
    assert_eq!(cl03.code, "CL03");
    assert_eq!(number(&cl03.thresholds, "substandard_from_dpd"), Some(91.0));
}
