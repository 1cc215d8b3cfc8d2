//! MonitorPortfolio: a batch of loans monitored together, so that the debtor-level rule of the
//! 2023 Measures (CL19: when more than the policy's share of a debtor's claims at the bank is
//! non-performing, all of them are) applies across each debtor's loans.

use std::collections::{BTreeMap, HashMap};

use super::ports::{Clock, DecisionStore, ProfileStore, StoreError, StoredProfile};
use super::{App, AppError, Observer, Subject};
use crate::domain::monitoring::{DebtorClaim, LoanSnapshot, MonitorResult, monitor};
use crate::domain::{Amount, EnterpriseProfile, Uscc};

/// Most loans one MonitorPortfolio call may carry: bounds the work and the answer of one call
/// (a service limit, not bank policy).
pub const MAX_PORTFOLIO_LOANS: usize = 1000;

/// One loan of a portfolio as read: its snapshot and borrower, or why it could not be read.
pub type PortfolioLoan = Result<(LoanSnapshot, Option<Subject>), AppError>;

/// A loan ready to monitor: the snapshot, its borrower's profile and the debtor it groups by.
struct Ready {
    loan: LoanSnapshot,
    profile: Option<EnterpriseProfile>,
    debtor: Option<String>,
}

impl<P: ProfileStore, D: DecisionStore, O: Observer, C: Clock> App<P, D, O, C> {
    /// Monitors every loan, in order, with the debtor-level rule applied over the loans of each
    /// debtor (the same enterprise id) in the batch besides the other claims each loan lists.
    /// A loan that cannot be monitored gets its own error; more than [`MAX_PORTFOLIO_LOANS`]
    /// loans is an error of the call.
    pub async fn monitor_portfolio(
        &self,
        loans: Vec<PortfolioLoan>,
    ) -> Result<Vec<Result<MonitorResult, AppError>>, AppError> {
        if loans.is_empty() || loans.len() > MAX_PORTFOLIO_LOANS {
            return Err(AppError::invalid(
                "loans",
                format!("must hold 1..{MAX_PORTFOLIO_LOANS} loans, got {}", loans.len()),
            ));
        }
        let now = self.now_ms();
        let date = self.calendar.evaluation_date(now);
        let policy = self.policy();
        let ready = self.ready_loans(loans, now).await;
        // First pass: each loan alone, for the class the debtor rule reads.
        let first: Vec<Option<MonitorResult>> = ready
            .iter()
            .map(|r| {
                r.as_ref()
                    .ok()
                    .map(|x| monitor(&x.loan, x.profile.as_ref(), policy, date))
            })
            .collect();
        let groups = debtor_groups(&ready);
        let results: Vec<Result<MonitorResult, AppError>> = ready
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut x = item?;
                let peers = x
                    .debtor
                    .as_ref()
                    .and_then(|d| groups.get(d))
                    .map_or(&[][..], Vec::as_slice);
                if peers.len() < 2 {
                    return Ok(first[i]
                        .clone()
                        .unwrap_or_else(|| monitor(&x.loan, x.profile.as_ref(), policy, date)));
                }
                x.loan.other_claims = debtor_claims(&x.loan, i, peers, &first);
                Ok(monitor(&x.loan, x.profile.as_ref(), policy, date))
            })
            .collect();
        for r in results.iter().flatten() {
            self.observer.monitored(r, policy);
        }
        Ok(results)
    }

    /// Resolves the borrowers (profiles by id fetched together) and each loan's debtor.
    async fn ready_loans(&self, loans: Vec<PortfolioLoan>, now: i64) -> Vec<Result<Ready, AppError>> {
        let ids: Vec<Uscc> = loans
            .iter()
            .filter_map(|l| match l {
                Ok((_, Some(Subject::Stored(id)))) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let fetched: Result<HashMap<Uscc, StoredProfile>, StoreError> = if ids.is_empty() {
            Ok(HashMap::new())
        } else {
            self.profiles.get_many(&ids, now).await
        };
        loans
            .into_iter()
            .map(|l| {
                let (loan, subject) = l?;
                let profile = match subject {
                    None => None,
                    Some(Subject::Inline(p)) => Some(*p),
                    Some(Subject::Stored(id)) => match &fetched {
                        Ok(found) => Some(
                            found
                                .get(&id)
                                .map(|s| s.profile.clone())
                                .ok_or_else(|| AppError::profile_not_found(&id))?,
                        ),
                        Err(e) => return Err(AppError::from(e.clone())),
                    },
                };
                let debtor = profile.as_ref().map(|p| p.enterprise_id.as_str().to_owned());
                Ok(Ready { loan, profile, debtor })
            })
            .collect()
    }
}

/// The loans of each debtor in the batch: (position, loan id, outstanding principal), by
/// enterprise id (a BTreeMap: the same input gives the same answer).
fn debtor_groups(ready: &[Result<Ready, AppError>]) -> BTreeMap<String, Vec<(usize, String, Amount)>> {
    let mut groups: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for (i, r) in ready.iter().enumerate() {
        if let Ok(Ready {
            loan,
            debtor: Some(debtor),
            ..
        }) = r
        {
            groups
                .entry(debtor.clone())
                .or_default()
                .push((i, loan.loan_id.clone(), loan.outstanding_principal));
        }
    }
    groups
}

/// Loan `me`'s other claims: its debtor's other loans in the batch at their first-pass class,
/// then the claims it listed itself that are not in the batch.
fn debtor_claims(
    loan: &LoanSnapshot,
    me: usize,
    peers: &[(usize, String, Amount)],
    first: &[Option<MonitorResult>],
) -> Vec<DebtorClaim> {
    let in_batch = peers
        .iter()
        .filter(|(i, _, _)| *i != me)
        .filter_map(|(i, id, exposure)| {
            first[*i].as_ref().map(|r| DebtorClaim {
                loan_id: id.clone(),
                class: r.classification,
                exposure: *exposure,
            })
        });
    let listed = loan
        .other_claims
        .iter()
        .filter(|c| !peers.iter().any(|(_, id, _)| *id == c.loan_id))
        .cloned();
    in_batch.chain(listed).collect()
}
