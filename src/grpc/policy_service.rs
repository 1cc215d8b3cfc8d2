//! `PolicyService`: what policy is deciding, and dry-run validation of a candidate.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::timestamp_ms;
use super::status::invalid;
use crate::app::LoadedPolicy;
use crate::pb;
use crate::pb::policy_service_server::PolicyService;
use crate::policy::{Policy, sha256_hex};

/// Largest candidate accepted by ValidatePolicy.
const MAX_POLICY_BYTES: usize = 1 << 20;

pub struct PolicyApi {
    policy: Arc<LoadedPolicy>,
}

impl PolicyApi {
    pub fn new(policy: Arc<LoadedPolicy>) -> Self {
        PolicyApi { policy }
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn get_policy(&self, request: Request<pb::GetPolicyRequest>) -> Result<Response<pb::PolicyInfo>, Status> {
        let loaded = &self.policy;
        let p = &loaded.policy;
        Ok(Response::new(pb::PolicyInfo {
            version: p.version.clone(),
            hash: p.hash.clone(),
            loaded_at: Some(timestamp_ms(loaded.loaded_at_ms)),
            source: loaded.source.clone(),
            currency: p.currency.clone(),
            products: p.product_keys().into_iter().map(str::to_owned).collect(),
            grades: p.grades.iter().map(|g| g.name.clone()).collect(),
            content: if request.get_ref().include_content {
                loaded.content.clone()
            } else {
                String::new()
            },
        }))
    }

    async fn validate_policy(
        &self,
        request: Request<pb::ValidatePolicyRequest>,
    ) -> Result<Response<pb::ValidatePolicyResponse>, Status> {
        let content = request.into_inner().content;
        if content.trim().is_empty() {
            return Err(invalid("content", "is required (the policy file's TOML text)").into());
        }
        if content.len() > MAX_POLICY_BYTES {
            return Err(invalid(
                "content",
                format!("must be at most {MAX_POLICY_BYTES} bytes, got {}", content.len()),
            )
            .into());
        }
        // Parsing is CPU work bounded by the size cap; keep it off the async workers anyway.
        let result = tokio::task::spawn_blocking(move || {
            let hash = sha256_hex(content.as_bytes());
            match Policy::from_toml(&content) {
                Ok(p) => pb::ValidatePolicyResponse {
                    valid: true,
                    errors: Vec::new(),
                    version: p.version,
                    hash,
                },
                Err(errors) => pb::ValidatePolicyResponse {
                    valid: false,
                    errors: errors
                        .0
                        .into_iter()
                        .map(|e| pb::PolicyError {
                            field: e.field,
                            line: e.line,
                            message: e.message,
                        })
                        .collect(),
                    version: candidate_version(&content),
                    hash,
                },
            }
        })
        .await
        .map_err(|e| Status::internal(format!("validation task failed: {e}")))?;
        Ok(Response::new(result))
    }
}

/// The `version` key of a candidate that did not validate, when it can be read at all.
fn candidate_version(content: &str) -> String {
    toml::from_str::<toml::Table>(content)
        .ok()
        .and_then(|t| t.get("version").and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
