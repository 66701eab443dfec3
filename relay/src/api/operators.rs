//! `GET /v1/api/operators`: who serves the key's site, and who is online.

use super::auth::caller;
use crate::http::ApiError;
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::api_keys::Scope;
use crate::store::reads;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

/// An operator serving the site.
#[derive(Debug, Serialize)]
pub struct OperatorView {
    /// Login name.
    pub username: String,
    /// Name shown to visitors.
    pub name: String,
    /// agent or admin.
    pub role: &'static str,
    /// Connected to this deployment (any of its nodes) or, as far as this
    /// deployment knows, to the peer.
    pub online: bool,
}

/// The site's operators (agents naming it and admins), by username.
/// Scope `operators:manage`.
pub async fn list(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Json<Vec<OperatorView>>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::OperatorsManage).await?;
    let accounts = state
        .store
        .read(reads::accounts)
        .await
        .map_err(ApiError::unavailable)?;
    let mut online = state.hub.deployment_operators_online();
    online.extend(state.hub.remote_operators());
    Ok(Json(
        accounts
            .iter()
            .filter(|a| !a.removed && a.serves(&key.site))
            .map(|a| OperatorView {
                username: a.username.clone(),
                name: a.name.clone(),
                role: a.role.as_str(),
                online: online.contains(&a.username),
            })
            .collect(),
    ))
}
