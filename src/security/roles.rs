//! The RPCs and the roles allowed to call them (docs/SECURITY.md). The table is code, not
//! configuration: which systems hold which role is configuration (the auth config file).

use std::fmt;

/// Our RPCs. Health and reflection are not here: they are open to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    Score,
    Decide,
    GetDecision,
    Monitor,
    MonitorPortfolio,
    ScorePortfolio,
    PutProfile,
    GetProfile,
    DeleteProfile,
    GetPolicy,
    ValidatePolicy,
}

/// What a request path is, for the security layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `grpc.health.v1.Health` and server reflection: no authentication, no rate limit.
    Open,
    Rpc(Rpc),
    /// Anything else: authenticated, then denied (deny by default).
    Unknown,
}

impl Rpc {
    pub const ALL: [Rpc; 11] = [
        Rpc::Score,
        Rpc::Decide,
        Rpc::GetDecision,
        Rpc::Monitor,
        Rpc::MonitorPortfolio,
        Rpc::ScorePortfolio,
        Rpc::PutProfile,
        Rpc::GetProfile,
        Rpc::DeleteProfile,
        Rpc::GetPolicy,
        Rpc::ValidatePolicy,
    ];

    /// `service/method` of the RPC.
    pub fn path(self) -> &'static str {
        match self {
            Rpc::Score => "riskdecision.v1.DecisionService/Score",
            Rpc::Decide => "riskdecision.v1.DecisionService/Decide",
            Rpc::GetDecision => "riskdecision.v1.DecisionService/GetDecision",
            Rpc::Monitor => "riskdecision.v1.DecisionService/Monitor",
            Rpc::MonitorPortfolio => "riskdecision.v1.DecisionService/MonitorPortfolio",
            Rpc::ScorePortfolio => "riskdecision.v1.DecisionService/ScorePortfolio",
            Rpc::PutProfile => "riskdecision.v1.ProfileService/PutProfile",
            Rpc::GetProfile => "riskdecision.v1.ProfileService/GetProfile",
            Rpc::DeleteProfile => "riskdecision.v1.ProfileService/DeleteProfile",
            Rpc::GetPolicy => "riskdecision.v1.PolicyService/GetPolicy",
            Rpc::ValidatePolicy => "riskdecision.v1.PolicyService/ValidatePolicy",
        }
    }

    /// Records nothing and changes nothing (Score and Monitor compute; ValidatePolicy is a dry
    /// run). GetProfile is read-only too, but shows personal data only to some roles.
    pub fn read_only(self) -> bool {
        !matches!(self, Rpc::Decide | Rpc::PutProfile | Rpc::DeleteProfile)
    }
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

impl Route {
    pub fn from_path(path: &str) -> Route {
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.starts_with("grpc.health.v1.Health/") || path.starts_with("grpc.reflection.") {
            return Route::Open;
        }
        Rpc::ALL
            .into_iter()
            .find(|r| r.path() == path)
            .map_or(Route::Unknown, Route::Rpc)
    }
}

/// The roles of the service's callers (docs/SECURITY.md, "The callers and what each may do").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Core banking: profiles, Score, Monitor, MonitorPortfolio, ScorePortfolio; reads personal
    /// data.
    CoreBanking,
    /// Loan origination: Decide, GetDecision, Score.
    LoanOrigination,
    /// Risk and ops teams: PolicyService and every read-only RPC (personal data masked).
    RiskOps,
    /// Auditors: GetDecision only.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::CoreBanking, Role::LoanOrigination, Role::RiskOps, Role::Auditor];

    pub fn name(self) -> &'static str {
        match self {
            Role::CoreBanking => "core-banking",
            Role::LoanOrigination => "loan-origination",
            Role::RiskOps => "risk-ops",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// May this role call `rpc`?
    pub fn allows(self, rpc: Rpc) -> bool {
        use Rpc::*;
        match self {
            Role::CoreBanking => matches!(
                rpc,
                PutProfile | GetProfile | DeleteProfile | Score | Monitor | MonitorPortfolio | ScorePortfolio
            ),
            Role::LoanOrigination => matches!(rpc, Decide | GetDecision | Score),
            Role::RiskOps => rpc.read_only(),
            Role::Auditor => matches!(rpc, GetDecision),
        }
    }

    /// May this role see personal data in clear (GetProfile)?
    pub fn personal_data(self) -> bool {
        matches!(self, Role::CoreBanking)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::from_path("/grpc.health.v1.Health/Check"), Route::Open);
        assert_eq!(
            Route::from_path("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Route::Open
        );
        assert_eq!(
            Route::from_path("/riskdecision.v1.DecisionService/Decide"),
            Route::Rpc(Rpc::Decide)
        );
        assert_eq!(
            Route::from_path("/riskdecision.v1.DecisionService/Nope"),
            Route::Unknown
        );
        assert_eq!(Route::from_path("/grpc.health.v1.Healthy/Check"), Route::Unknown);
    }

    #[test]
    fn role_table() {
        let allowed = |role: Role| Rpc::ALL.into_iter().filter(|r| role.allows(*r)).count();
        assert_eq!(allowed(Role::CoreBanking), 7);
        assert_eq!(allowed(Role::LoanOrigination), 3);
        assert_eq!(allowed(Role::RiskOps), 8);
        assert!(Role::CoreBanking.allows(Rpc::MonitorPortfolio) && Role::RiskOps.allows(Rpc::MonitorPortfolio));
        assert!(!Role::LoanOrigination.allows(Rpc::MonitorPortfolio));
        assert_eq!(allowed(Role::Auditor), 1);
        assert!(!Role::RiskOps.allows(Rpc::Decide));
        assert!(Role::RiskOps.allows(Rpc::ValidatePolicy));
        assert!(Role::CoreBanking.personal_data() && !Role::RiskOps.personal_data());
    }
}
