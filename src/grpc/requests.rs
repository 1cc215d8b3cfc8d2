//! Requests to use-case inputs: validation and conversion of whole requests, every violation
//! collected. The subject oneof (an enterprise id or an inline profile) is parsed here, once,
//! for the three messages that carry one.

use prost::Message as _;

use super::convert;
use super::monitor_convert;
use super::validate::{Validator, request_id};
use crate::app::{AppError, Clock, DecideCommand, Subject};
use crate::domain::decision::check_application;
use crate::domain::monitoring::LoanSnapshot;
use crate::pb;
use crate::policy::Policy;

/// A subject oneof, whichever message it came in.
#[derive(Clone, Copy)]
pub enum SubjectRef<'a> {
    EnterpriseId(&'a str),
    Profile(&'a pb::EnterpriseProfile),
}

macro_rules! subject_ref {
    ($($module:ident)::+) => {
        impl<'a> From<&'a $($module)::+::Subject> for SubjectRef<'a> {
            fn from(s: &'a $($module)::+::Subject) -> Self {
                use $($module)::+::Subject;
                match s {
                    Subject::EnterpriseId(id) => SubjectRef::EnterpriseId(id),
                    Subject::Profile(p) => SubjectRef::Profile(p),
                }
            }
        }
    };
}
subject_ref!(pb::score_request);
subject_ref!(pb::loan_snapshot);
subject_ref!(pb::loan_application);

/// Where a subject's fields are, and what to say when it is missing (nothing: optional).
pub struct SubjectPaths {
    pub enterprise_id: &'static str,
    pub profile: &'static str,
    pub missing: Option<(&'static str, &'static str)>,
}

pub const SCORE_SUBJECT: SubjectPaths = SubjectPaths {
    enterprise_id: "enterprise_id",
    profile: "profile",
    missing: Some(("subject", "one of enterprise_id or profile is required")),
};

const LOAN_SUBJECT: SubjectPaths = SubjectPaths {
    enterprise_id: "loan.enterprise_id",
    profile: "loan.profile",
    missing: None,
};

const APPLICATION_SUBJECT: SubjectPaths = SubjectPaths {
    enterprise_id: "application.enterprise_id",
    profile: "application.profile",
    missing: Some((
        "application.subject",
        "one of application.enterprise_id or application.profile is required",
    )),
};

/// Validates a subject oneof.
pub fn subject(v: &mut Validator, paths: &SubjectPaths, oneof: Option<SubjectRef>, policy: &Policy) -> Option<Subject> {
    match oneof {
        Some(SubjectRef::EnterpriseId(id)) => {
            convert::enterprise_id(v, paths.enterprise_id, id, policy.accept_uscc_checksum_failures)
                .map(|(id, _)| Subject::Stored(id))
        }
        Some(SubjectRef::Profile(p)) => {
            convert::profile(v, paths.profile, p, policy).map(|p| Subject::Inline(Box::new(p)))
        }
        None => {
            if let Some((field, description)) = paths.missing {
                v.violation(field, description);
            }
            None
        }
    }
}

/// What a use case needs to validate a request: the policy and the latest input date.
pub struct Checks<'a> {
    pub policy: &'a Policy,
    pub latest_date: time::Date,
}

impl<'a> Checks<'a> {
    pub fn of<P, D, O, C: Clock>(app: &'a crate::app::App<P, D, O, C>) -> Self {
        Checks {
            policy: app.policy(),
            latest_date: app.latest_input_date(),
        }
    }

    fn validator(&self) -> Validator<'a> {
        Validator::new(&self.policy.currency, self.latest_date)
    }

    /// A ScoreRequest's subject (also each item of a ScorePortfolio stream).
    pub fn score(&self, req: &pb::ScoreRequest) -> Result<Subject, AppError> {
        let mut v = self.validator();
        let subject = subject(
            &mut v,
            &SCORE_SUBJECT,
            req.subject.as_ref().map(Into::into),
            self.policy,
        );
        if req.item_id.len() > 128 {
            v.violation("item_id", "must be at most 128 characters");
        }
        match subject {
            Some(s) if v.is_clean() => Ok(s),
            _ => Err(AppError::Invalid(v.violations)),
        }
    }

    /// A MonitorRequest: the loan and its borrower, if given.
    pub fn monitor(&self, req: &pb::MonitorRequest) -> Result<(LoanSnapshot, Option<Subject>), AppError> {
        let mut v = self.validator();
        let Some(loan) = req.loan.as_ref() else {
            return Err(AppError::invalid("loan", "is required"));
        };
        let subject = subject(
            &mut v,
            &LOAN_SUBJECT,
            loan.subject.as_ref().map(Into::into),
            self.policy,
        );
        let snapshot = monitor_convert::snapshot(&mut v, "loan", loan, self.policy);
        let other_claims = monitor_convert::other_claims(&mut v, "other_claims".into(), &req.other_claims);
        match (snapshot, v.is_clean()) {
            (Some(snapshot), true) => Ok((
                LoanSnapshot {
                    other_claims,
                    ..snapshot
                },
                subject,
            )),
            _ => Err(AppError::Invalid(v.violations)),
        }
    }

    /// A DecideRequest, from `caller`.
    pub fn decide(&self, req: &pb::DecideRequest, caller: String) -> Result<DecideCommand, AppError> {
        let mut v = self.validator();
        let request_id = request_id(&mut v, "request_id", &req.request_id);
        let Some(app_pb) = req.application.as_ref() else {
            v.violation("application", "is required");
            return Err(AppError::Invalid(v.violations));
        };
        let subject = subject(
            &mut v,
            &APPLICATION_SUBJECT,
            app_pb.subject.as_ref().map(Into::into),
            self.policy,
        );
        let application = convert::application(&mut v, "application", app_pb);
        if let Some(app) = &application {
            for problem in check_application(app, self.policy) {
                v.violation(problem.field, problem.message);
            }
        }
        match (request_id, subject, application) {
            (Some(request_id), Some(subject), Some(application)) if v.is_clean() => Ok(DecideCommand {
                request_id,
                subject,
                application,
                application_bytes: app_pb.encode_to_vec(),
                caller,
            }),
            _ => Err(AppError::Invalid(v.violations)),
        }
    }

    /// A PutProfileRequest's profile.
    pub fn profile(&self, req: &pb::PutProfileRequest) -> Result<crate::domain::EnterpriseProfile, AppError> {
        let Some(p) = req.profile.as_ref() else {
            return Err(AppError::invalid("profile", "is required"));
        };
        let mut v = self.validator();
        let profile = convert::profile(&mut v, "profile", p, self.policy);
        match (profile, v.is_clean()) {
            (Some(profile), true) => Ok(profile),
            _ => Err(AppError::Invalid(v.violations)),
        }
    }
}

/// An enterprise id of the profile cache's own calls.
pub fn enterprise_id(policy: &Policy, raw: &str) -> Result<crate::domain::Uscc, AppError> {
    let mut v = Validator::new(&policy.currency, time::Date::MAX);
    match convert::enterprise_id(&mut v, "enterprise_id", raw, policy.accept_uscc_checksum_failures) {
        Some((id, _)) => Ok(id),
        None => Err(AppError::Invalid(v.violations)),
    }
}

/// A GetDecisionRequest's decision id, trimmed.
pub fn decision_id(req: &pb::GetDecisionRequest) -> Result<&str, AppError> {
    let id = req.decision_id.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(AppError::invalid(
            "decision_id",
            "must be a decision id as returned by Decide (a UUID)",
        ));
    }
    Ok(id)
}
