//! The REST API under `/v1/api/`, for a site's own systems (a CRM, a ticket
//! system, a script), authenticated by API keys ([`crate::apikeys`]).
//!
//! Every handler starts with [`auth::caller`], which names the one
//! [`Scope`](crate::store::api_keys::Scope) the endpoint needs, and acts
//! only on the key's site: a chat of another site is `not_found`, as if it
//! did not exist. Refusals are the relay's one JSON error body
//! (`{"error": code, "message": text}`, [`crate::http::ApiError`]).
//!
//! Writes go through the store like a client's: a message posted here is
//! merged by its id, acked only once durable, then fanned out to the chat's
//! followers (visitor and consoles) as a replicated one would be, and it
//! replicates to the peer like any other. A POST's `Idempotency-Key` is
//! turned into the id of what it creates ([`idempotency`]), so a retry of
//! the same request, on this deployment or on the other after a failover,
//! names the same record and creates nothing twice.
//!
//! # Layout
//! - [`auth`]: the bearer key, its throttle and the scope check.
//! - [`paging`]: limits and cursors (pure).
//! - [`idempotency`]: `Idempotency-Key` to a record id (pure).
//! - [`views`]: the JSON shapes the API answers with.
//! - [`chats`], [`messages`], [`notes`], [`operators`]: the handlers.
//! - [`visitors`], [`export`]: a visitor's data, exported or erased
//!   (scope `data:manage`).
//! - [`webhooks`]: a site's webhook subscriptions, their delivery log and
//!   the test button (scope `settings:manage`).
//! - [`openapi`]: the OpenAPI 3.1 document and its HTML page.

pub mod auth;
pub mod chats;
pub mod export;
pub mod idempotency;
pub mod messages;
pub mod notes;
pub mod openapi;
pub mod operators;
pub mod paging;
pub mod views;
pub mod visitors;
pub mod webhooks;

#[cfg(test)]
mod openapi_tests;
#[cfg(test)]
mod router_tests;
#[cfg(test)]
mod visitors_tests;
#[cfg(test)]
mod webhooks_tests;

use crate::state::Shared;
use axum::Router;
use axum::routing::{delete, get, post};

/// The API's routes, as `(method, path)` in axum's syntax: what
/// [`routes`] mounts and what the OpenAPI test holds the document to.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/api/chats"),
    ("get", "/v1/api/chats/{chat}"),
    ("post", "/v1/api/chats/{chat}/close"),
    ("post", "/v1/api/chats/{chat}/transfer"),
    ("get", "/v1/api/chats/{chat}/messages"),
    ("post", "/v1/api/chats/{chat}/messages"),
    ("get", "/v1/api/notes"),
    ("get", "/v1/api/operators"),
    ("get", "/v1/api/sites/{site}/visitors/{visitor}/export"),
    ("delete", "/v1/api/sites/{site}/visitors/{visitor}"),
    ("get", "/v1/api/sites/{site}/export"),
    ("delete", "/v1/api/sites/{site}/data"),
    ("get", "/v1/api/sites/{site}/retention"),
    ("post", "/v1/api/sites/{site}/webhooks"),
    ("get", "/v1/api/sites/{site}/webhooks"),
    ("get", "/v1/api/sites/{site}/webhooks/{webhook}"),
    ("patch", "/v1/api/sites/{site}/webhooks/{webhook}"),
    ("delete", "/v1/api/sites/{site}/webhooks/{webhook}"),
    ("get", "/v1/api/sites/{site}/webhooks/{webhook}/deliveries"),
    ("post", "/v1/api/sites/{site}/webhooks/{webhook}/test"),
    ("get", "/v1/api/openapi.json"),
    ("get", "/v1/api/docs"),
];

/// The router of `/v1/api/` (no CORS: keys are for servers, never pages).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/api/chats", get(chats::list))
        .route("/v1/api/chats/{chat}", get(chats::get_one))
        .route("/v1/api/chats/{chat}/close", post(chats::close))
        .route("/v1/api/chats/{chat}/transfer", post(chats::transfer))
        .route(
            "/v1/api/chats/{chat}/messages",
            get(messages::list).post(messages::post),
        )
        .route("/v1/api/notes", get(notes::list))
        .route("/v1/api/operators", get(operators::list))
        .route(
            "/v1/api/sites/{site}/visitors/{visitor}/export",
            get(visitors::export),
        )
        .route(
            "/v1/api/sites/{site}/visitors/{visitor}",
            delete(visitors::erase),
        )
        .route("/v1/api/sites/{site}/export", get(export::by_email))
        .route("/v1/api/sites/{site}/data", delete(export::erase_by_email))
        .route("/v1/api/sites/{site}/retention", get(export::retention))
        .route(
            "/v1/api/sites/{site}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/v1/api/sites/{site}/webhooks/{webhook}",
            get(webhooks::get_one)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/v1/api/sites/{site}/webhooks/{webhook}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/v1/api/sites/{site}/webhooks/{webhook}/test",
            post(webhooks::test),
        )
        .route("/v1/api/openapi.json", get(openapi::document))
        .route("/v1/api/docs", get(openapi::page))
}
