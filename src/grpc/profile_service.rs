//! `ProfileService`: the profile cache the core banking system writes to.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert;
use super::deadline;
use super::status::{ApiError, invalid};
use super::validate::Validator;
use super::{AppState, now_ms};
use crate::domain::Uscc;
use crate::pb;
use crate::pb::profile_service_server::ProfileService;
use crate::store::{DecisionStore, ProfileStore};

pub struct ProfileApi<P, D> {
    state: Arc<AppState<P, D>>,
}

impl<P, D> ProfileApi<P, D> {
    pub fn new(state: Arc<AppState<P, D>>) -> Self {
        ProfileApi { state }
    }
}

impl<P: ProfileStore, D: DecisionStore> ProfileApi<P, D> {
    fn id(&self, raw: &str) -> Result<Uscc, ApiError> {
        let policy = &self.state.policy.policy;
        let mut v = Validator::new(&policy.currency, time::Date::MAX);
        match convert::enterprise_id(&mut v, "enterprise_id", raw, policy.accept_uscc_checksum_failures) {
            Some((id, _)) => Ok(id),
            None => Err(ApiError::Invalid(v.violations)),
        }
    }

    async fn put_inner(&self, req: pb::PutProfileRequest) -> Result<pb::PutProfileResponse, ApiError> {
        let policy = &self.state.policy.policy;
        let now = now_ms();
        let mut v = Validator::new(&policy.currency, self.state.latest_input_date(now));
        let Some(p) = req.profile.as_ref() else {
            return Err(invalid("profile", "is required"));
        };
        let profile = convert::profile(&mut v, "profile", p, policy);
        let (Some(profile), true) = (profile, v.is_clean()) else {
            return Err(ApiError::Invalid(v.violations));
        };
        let stored = self.state.profiles.put(profile, req.expected_version, now).await?;
        Ok(pb::PutProfileResponse {
            enterprise_id: stored.profile.enterprise_id.to_string(),
            version: stored.version,
            expires_at: Some(convert::timestamp_ms(stored.expires_at_ms)),
        })
    }

    async fn get_inner(&self, req: pb::GetProfileRequest) -> Result<pb::GetProfileResponse, ApiError> {
        let id = self.id(&req.enterprise_id)?;
        let stored = self
            .state
            .profiles
            .get(&id, now_ms())
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "profile",
                reason: "PROFILE_NOT_FOUND",
                id: id.to_string(),
            })?;
        Ok(pb::GetProfileResponse {
            profile: Some(convert::profile_to_pb(
                &self.state.policy.policy.currency,
                &stored.profile,
            )),
            version: stored.version,
            stored_at: Some(convert::timestamp_ms(stored.stored_at_ms)),
            expires_at: Some(convert::timestamp_ms(stored.expires_at_ms)),
        })
    }

    async fn delete_inner(&self, req: pb::DeleteProfileRequest) -> Result<pb::DeleteProfileResponse, ApiError> {
        let id = self.id(&req.enterprise_id)?;
        let deleted = self.state.profiles.delete(&id, now_ms()).await?;
        if !deleted && !req.allow_missing {
            return Err(ApiError::NotFound {
                what: "profile",
                reason: "PROFILE_NOT_FOUND",
                id: id.to_string(),
            });
        }
        Ok(pb::DeleteProfileResponse { deleted })
    }
}

#[tonic::async_trait]
impl<P: ProfileStore, D: DecisionStore> ProfileService for ProfileApi<P, D> {
    async fn put_profile(
        &self,
        request: Request<pb::PutProfileRequest>,
    ) -> Result<Response<pb::PutProfileResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        Ok(Response::new(
            deadline::within(deadline, self.put_inner(request.into_inner())).await?,
        ))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        // Personal fields in clear only for callers whose role may read them (docs/SECURITY.md).
        let reveal = crate::security::may_read_personal_data(request.extensions());
        let mut response = deadline::within(deadline, self.get_inner(request.into_inner())).await?;
        if !reveal && let Some(profile) = response.profile.as_mut() {
            crate::security::pii::mask_profile(profile);
        }
        Ok(Response::new(response))
    }

    async fn delete_profile(
        &self,
        request: Request<pb::DeleteProfileRequest>,
    ) -> Result<Response<pb::DeleteProfileResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        Ok(Response::new(
            deadline::within(deadline, self.delete_inner(request.into_inner())).await?,
        ))
    }
}
