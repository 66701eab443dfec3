//! The visitor token: who this browser is and which chat it has.
//!
//! A token kept in localStorage is used as it is while it is valid, so a
//! reload continues the same chat without asking anyone, even while both
//! deployments are down. Otherwise the widget asks the deployment that served
//! it (the primary unless the loader had to fall back), and the other too if
//! that has not answered within a head start or fails (either signs tokens
//! both accept; the first answer wins), passing the old token so the relay
//! can keep the same visitor and chat.

use crate::config::WidgetConfig;
use crate::js;
use crate::net;
use crate::storage::Store;
use std::rc::Rc;
use twinline_core::protocol::{VisitorTokenRequest, VisitorTokenResponse};

/// Per deployment, how long to wait for a token.
const TIMEOUT_MS: u32 = 4_000;
/// A token this close to expiry is renewed first.
const RENEW_MARGIN_MS: u64 = 60 * 60 * 1000;

/// The stored token, if it is still good for a while.
pub fn stored(store: &Store) -> Option<VisitorTokenResponse> {
    let text = store.get(&store.keys.token())?;
    let token: VisitorTokenResponse = js::from_json(&text).ok()?;
    (token.expires.0 > js::now().0 + RENEW_MARGIN_MS).then_some(token)
}

/// A usable token: the stored one, or a new one from either deployment
/// (then kept).
pub async fn obtain(config: &WidgetConfig, store: &Store) -> Result<VisitorTokenResponse, String> {
    if let Some(token) = stored(store) {
        return Ok(token);
    }
    let token = request(config, store).await?;
    keep(store, &token);
    Ok(token)
}

/// A new token from either deployment, not kept: the stored one (valid or
/// not) goes with the request so that the relay keeps the visitor.
pub async fn request(config: &WidgetConfig, store: &Store) -> Result<VisitorTokenResponse, String> {
    let old = store
        .get(&store.keys.token())
        .and_then(|t| js::from_json::<VisitorTokenResponse>(&t).ok())
        .map(|t| t.token);
    let request = VisitorTokenRequest {
        site: config.site.clone(),
        token: old,
    };
    // The deployment that served the widget first, the other raced after a
    // head start (`crate::race`): either signs tokens both accept.
    let order = config
        .token_order()
        .map(|(_, base)| format!("{base}/v1/visitor/token"));
    let request = Rc::new(request);
    net::race(move |i, abort| {
        let (url, request) = (order[i].clone(), request.clone());
        async move {
            net::json_until::<_, VisitorTokenResponse>(&url, Some(&*request), TIMEOUT_MS, abort)
                .await
        }
    })
    .await
}

/// Stores `token` for the next page and reload.
pub fn keep(store: &Store, token: &VisitorTokenResponse) {
    if let Ok(text) = js::to_json(token) {
        store.set(&store.keys.token(), &text);
    }
}

/// Forgets the token (a new chat after the old one was closed).
pub fn forget(store: &Store) {
    store.remove(&store.keys.token());
}
