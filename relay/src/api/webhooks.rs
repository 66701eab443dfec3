//! `/v1/api/sites/{site}/webhooks`: a site's webhook subscriptions, their
//! delivery log and the test button, with the scope `settings:manage`.
//! (The console's admin page for them is issue 22's; until then this is
//! the interface.)
//!
//! A subscription is made here and stored like every record, so it
//! replicates to the other deployment, which delivers its events too when
//! it must ([`crate::webhooks`]). Its signing secret is made here and shown
//! in the creating answer only (and in a replay of it). A POST's
//! `Idempotency-Key` names the subscription's id, so a create retried on the
//! other deployment after a failover names the same subscription (the later
//! copy wins, and that is the answer the client saw last). A deletion is a
//! tombstone that wins on both deployments; its deliveries stay in the log.

use super::auth::caller;
use super::idempotency;
use crate::http::{ApiError, ApiJson};
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::api_keys::{ApiKey, Scope};
use crate::store::reads;
use crate::store::records::Record;
use crate::store::webhooks::{Delivery, EventType, Subscription};
use crate::webhooks::{MAX_PER_SITE, events, sender, signing, target};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The most deliveries one page of the log shows (and the default).
pub const MAX_LOG: usize = 100;

/// `POST .../webhooks`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries go (http or https).
    pub url: String,
    /// What it receives (at least one; `webhook.test` is the test button's).
    pub events: Vec<EventType>,
    /// Whether it receives events now (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// `PATCH .../webhooks/{id}`'s body: what changes. Only `enabled` today;
/// a new URL or new events is a new subscription (its own secret, its own
/// log), so those are refused as unknown fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    /// Whether it receives events from now on.
    pub enabled: bool,
}

/// A subscription as the API shows it.
#[derive(Debug, Serialize)]
pub struct WebhookView {
    /// Its id.
    pub id: String,
    /// Its site.
    pub site: String,
    /// Where deliveries go.
    pub url: String,
    /// What it receives.
    pub events: Vec<EventType>,
    /// Whether it receives events now.
    pub enabled: bool,
    /// When it was made, ms since the epoch.
    pub created: u64,
    /// The signing secret: in the creating answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn of(subscription: &Subscription, with_secret: bool) -> WebhookView {
        WebhookView {
            id: subscription.id.clone(),
            site: subscription.site.clone(),
            url: subscription.url.clone(),
            events: subscription.events.clone(),
            enabled: subscription.enabled,
            created: subscription.created.0,
            secret: with_secret.then(|| subscription.secret.clone()),
        }
    }
}

/// One line of the delivery log.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    /// The event's id (the `webhook-id` header).
    pub event: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// pending, delivered or failed.
    pub state: &'static str,
    /// Attempts made, by either deployment.
    pub attempts: u32,
    /// The deployment delivering it.
    pub owner: String,
    /// The last answer's HTTP status.
    pub last_status: Option<u16>,
    /// Why the last attempt failed ("" when it did not).
    pub last_error: String,
    /// When the next attempt is due (pending only), ms since the epoch.
    pub next_attempt: Option<u64>,
    /// When the receiver took it, ms since the epoch.
    pub delivered_at: Option<u64>,
    /// When the event happened.
    pub at: u64,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> DeliveryView {
        let pending = d.state == crate::store::webhooks::DeliveryState::Pending;
        DeliveryView {
            event: d.event.clone(),
            kind: d.kind,
            state: d.state.as_str(),
            attempts: d.attempts,
            owner: d.owner.clone(),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            next_attempt: pending.then_some(d.next_attempt.0),
            delivered_at: d.delivered_at.map(|t| t.0),
            at: d.at.0,
        }
    }
}

/// A list.
#[derive(Debug, Serialize)]
pub struct Items<T> {
    /// The items.
    pub items: Vec<T>,
}

/// The delivery log's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// At most this many, newest event first (1 to [`MAX_LOG`]).
    pub limit: Option<usize>,
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such {what}"),
    )
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The key, if it may manage `site`'s settings (another site's is
/// `not_found`, as if it did not exist).
async fn manager(
    state: &Shared,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    site: &str,
) -> Result<ApiKey, ApiError> {
    let key = caller(state, headers, ip, Scope::SettingsManage).await?;
    if key.site != site {
        return Err(not_found("site"));
    }
    Ok(key)
}

/// The live subscription `id` of `site`.
async fn subscription_of(state: &Shared, site: &str, id: &str) -> Result<Subscription, ApiError> {
    let lookup = id.to_string();
    state
        .store
        .read(move |conn| reads::webhook(conn, &lookup))
        .await
        .map_err(ApiError::unavailable)?
        .filter(|s| s.site == site && !s.removed)
        .ok_or_else(|| not_found("webhook"))
}

/// The id a create names: from its `Idempotency-Key`, else random.
pub fn webhook_id(site: &str, idempotency_key: Option<&str>) -> String {
    let bytes: [u8; 16] = match idempotency_key {
        Some(key) => {
            let mut digest = Sha256::new();
            digest.update(b"twinline idempotency v1\0webhook\0");
            for part in [site, key] {
                digest.update((part.len() as u64).to_be_bytes());
                digest.update(part.as_bytes());
            }
            let hash = digest.finalize();
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&hash[..16]);
            bytes
        }
        None => rand::random(),
    };
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("wh_{hex}")
}

/// `POST /v1/api/sites/{site}/webhooks`: 201 with the secret; 200 and
/// `Idempotent-Replayed: true` for a retry of the same create.
pub async fn create(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(site): Path<String>,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<Response, ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let idempotency_key = idempotency::key(&headers)?;
    let allow_private = state.config.webhooks.allow_private_targets;
    target::check_url(&body.url, allow_private).map_err(|error| bad_request(error.to_string()))?;
    let mut wanted = body.events.clone();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|event| !EventType::SUBSCRIBABLE.contains(event))
    {
        let names: Vec<&str> = EventType::SUBSCRIBABLE.iter().map(|e| e.as_str()).collect();
        return Err(bad_request(format!(
            "events: one or more of {}",
            names.join(", ")
        )));
    }
    let id = webhook_id(&key.site, idempotency_key);
    let all = state
        .store
        .read({
            let site = key.site.clone();
            move |conn| reads::webhooks(conn, Some(&site))
        })
        .await
        .map_err(ApiError::unavailable)?;
    if let Some(earlier) = all.iter().find(|s| s.id == id) {
        if earlier.removed || earlier.url != body.url || earlier.events != wanted {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "this Idempotency-Key was used for another webhook",
            ));
        }
        let mut response = Json(WebhookView::of(earlier, true)).into_response();
        response
            .headers_mut()
            .insert(super::messages::REPLAYED, HeaderValue::from_static("true"));
        return Ok(response);
    }
    if all.iter().filter(|s| !s.removed).count() >= MAX_PER_SITE {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_webhooks",
            format!("a site has at most {MAX_PER_SITE} webhooks; delete one first"),
        ));
    }
    let made = Subscription {
        id,
        site: key.site.clone(),
        url: body.url,
        events: wanted,
        enabled: body.enabled,
        secret: signing::new_secret(),
        created: crate::clock::now(),
        stamp: state.stamp(),
        removed: false,
    };
    let applied = state
        .store
        .apply(Record::Webhook(made.clone()), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    if let Some(refusal) = applied.refused {
        return Err(bad_request(refusal.to_string()));
    }
    tracing::info!(webhook = %made.id, site = %made.site, key = %key.id, "webhook subscription made");
    Ok((StatusCode::CREATED, Json(WebhookView::of(&made, true))).into_response())
}

/// `GET /v1/api/sites/{site}/webhooks`: the live subscriptions (no secret).
pub async fn list(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(site): Path<String>,
) -> Result<Json<Items<WebhookView>>, ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let all = state
        .store
        .read(move |conn| reads::webhooks(conn, Some(&key.site)))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(Items {
        items: all
            .iter()
            .filter(|s| !s.removed)
            .map(|s| WebhookView::of(s, false))
            .collect(),
    }))
}

/// `GET /v1/api/sites/{site}/webhooks/{id}`.
pub async fn get_one(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, id)): Path<(String, String)>,
) -> Result<Json<WebhookView>, ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let subscription = subscription_of(&state, &key.site, &id).await?;
    Ok(Json(WebhookView::of(&subscription, false)))
}

/// `DELETE /v1/api/sites/{site}/webhooks/{id}`: 204; nothing more is sent
/// to it, from either deployment.
pub async fn delete(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let subscription = subscription_of(&state, &key.site, &id).await?;
    let removed = Subscription {
        removed: true,
        enabled: false,
        stamp: state.stamp_over(subscription.stamp),
        ..subscription
    };
    state
        .store
        .apply(Record::Webhook(removed), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    tracing::info!(webhook = %id, key = %key.id, "webhook subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /v1/api/sites/{site}/webhooks/{id}`: turns a subscription off
/// or on again (200 with it, no secret), on both deployments: the change is
/// the subscription's record again with a later stamp, merged like every
/// change (last writer wins). While it is off, events are not queued for
/// it and its pending deliveries wait; on again, those go on.
pub async fn update(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<WebhookChange>,
) -> Result<Json<WebhookView>, ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let subscription = subscription_of(&state, &key.site, &id).await?;
    if subscription.enabled == body.enabled {
        return Ok(Json(WebhookView::of(&subscription, false)));
    }
    let changed = Subscription {
        enabled: body.enabled,
        stamp: state.stamp_over(subscription.stamp),
        ..subscription
    };
    let applied = state
        .store
        .apply(Record::Webhook(changed.clone()), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    if let Some(refusal) = applied.refused {
        return Err(bad_request(refusal.to_string()));
    }
    tracing::info!(webhook = %id, key = %key.id, enabled = changed.enabled, "webhook subscription changed");
    Ok(Json(WebhookView::of(&changed, false)))
}

/// `GET /v1/api/sites/{site}/webhooks/{id}/deliveries`: the delivery log,
/// newest event first.
pub async fn deliveries(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, id)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Result<Json<Items<DeliveryView>>, ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let limit = match query.limit {
        None => MAX_LOG,
        Some(n) if (1..=MAX_LOG).contains(&n) => n,
        Some(_) => return Err(bad_request(format!("limit: 1 to {MAX_LOG}"))),
    };
    let subscription = subscription_of(&state, &key.site, &id).await?;
    let log = state
        .store
        .read(move |conn| reads::deliveries(conn, &subscription.id, limit))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(Items {
        items: log.iter().map(DeliveryView::from).collect(),
    }))
}

/// `POST /v1/api/sites/{site}/webhooks/{id}/test`: queues a `webhook.test`
/// event for this subscription, sent at once by this deployment (202 with
/// its log line; its outcome shows in the delivery log).
pub async fn test(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let key = manager(&state, &headers, ip, &site).await?;
    let subscription = subscription_of(&state, &key.site, &id).await?;
    let nonce = format!("{:032x}", rand::random::<u128>());
    let event = events::test_event(&key.site, &subscription.id, &nonce, crate::clock::now());
    let delivery = sender::new_delivery(&subscription, &event, &state.config.name);
    state
        .store
        .apply(Record::Delivery(delivery.clone()), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&delivery))))
}

#[cfg(test)]
mod tests {
    use super::webhook_id;

    #[test]
    fn an_idempotency_key_names_one_webhook_per_site() {
        let id = webhook_id("demo", Some("k-1"));
        assert_eq!(id, webhook_id("demo", Some("k-1")));
        assert_ne!(id, webhook_id("other", Some("k-1")));
        assert_ne!(id, webhook_id("demo", Some("k-2")));
        assert_ne!(webhook_id("demo", None), webhook_id("demo", None));
        assert!(id.starts_with("wh_") && id.len() == 35, "{id}");
    }
}
