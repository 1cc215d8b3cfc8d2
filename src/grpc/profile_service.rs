//! `ProfileService`: the profile cache the core banking system writes to.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::requests::{self, Checks};
use super::{convert, deadline};
use crate::app::{App, Clock, DecisionStore, Observer, ProfileStore};
use crate::pb;
use crate::pb::profile_service_server::ProfileService;

pub struct ProfileApi<P, D, O, C> {
    app: Arc<App<P, D, O, C>>,
}

impl<P, D, O, C> ProfileApi<P, D, O, C> {
    pub fn new(app: Arc<App<P, D, O, C>>) -> Self {
        ProfileApi { app }
    }
}

#[tonic::async_trait]
impl<P: ProfileStore, D: DecisionStore, O: Observer, C: Clock> ProfileService for ProfileApi<P, D, O, C> {
    async fn put_profile(
        &self,
        request: Request<pb::PutProfileRequest>,
    ) -> Result<Response<pb::PutProfileResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        let stored = deadline::within(deadline, async {
            let profile = Checks::of(&self.app).profile(&req)?;
            self.app.put_profile(profile, req.expected_version).await
        })
        .await?;
        Ok(Response::new(pb::PutProfileResponse {
            enterprise_id: stored.profile.enterprise_id.to_string(),
            version: stored.version,
            expires_at: Some(convert::timestamp_ms(stored.expires_at_ms)),
        }))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        // Personal fields in clear only for callers whose role may read them (docs/SECURITY.md).
        let reveal = crate::security::may_read_personal_data(request.extensions());
        let req = request.into_inner();
        let stored = deadline::within(deadline, async {
            let id = requests::enterprise_id(self.app.policy(), &req.enterprise_id)?;
            self.app.get_profile(&id).await
        })
        .await?;
        let mut profile = convert::profile_to_pb(&self.app.policy().currency, &stored.profile);
        if !reveal {
            crate::pii::mask_profile(&mut profile);
        }
        Ok(Response::new(pb::GetProfileResponse {
            profile: Some(profile),
            version: stored.version,
            stored_at: Some(convert::timestamp_ms(stored.stored_at_ms)),
            expires_at: Some(convert::timestamp_ms(stored.expires_at_ms)),
        }))
    }

    async fn delete_profile(
        &self,
        request: Request<pb::DeleteProfileRequest>,
    ) -> Result<Response<pb::DeleteProfileResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        let deleted = deadline::within(deadline, async {
            let id = requests::enterprise_id(self.app.policy(), &req.enterprise_id)?;
            self.app.delete_profile(&id, req.allow_missing).await
        })
        .await?;
        Ok(Response::new(pb::DeleteProfileResponse { deleted }))
    }
}
