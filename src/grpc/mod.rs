//! The gRPC adapter: tonic services that validate and convert requests, call the `app` use
//! cases, convert the results back and map errors to statuses. Handlers stay thin; the
//! banking knowledge lives in `domain`, the flow of a call in `app`.

pub mod caller_faults;
pub mod convert;
pub mod deadline;
mod decision_service;
pub mod drain;
pub mod monitor_convert;
pub mod overload;
mod policy_service;
mod profile_service;
pub mod requests;
pub mod status;
pub mod validate;

pub use decision_service::DecisionApi;
pub use policy_service::PolicyApi;
pub use profile_service::ProfileApi;
