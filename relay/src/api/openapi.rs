//! The OpenAPI 3.1 document of `/v1/api/` and the HTML page rendered from
//! it, both served by the relay (no CDN, no script: the page is plain HTML
//! made here from the same document).
//!
//! The document is written by hand beside the handlers, and
//! `openapi_tests.rs` holds it to the router both ways: every operation it
//! lists answers (is routed, not axum's 404 or 405), and every route in
//! [`super::ROUTES`] is in it.

use super::paging::{DEFAULT_LIMIT, MAX_LIMIT};
use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// One operation: method, path, scope (if any), summary, what it answers.
struct Op {
    method: &'static str,
    path: &'static str,
    scope: Option<&'static str>,
    summary: &'static str,
    params: &'static [&'static str],
    body: Option<&'static str>,
    answer: (&'static str, &'static str),
}

const OPS: &[Op] = &[
    Op {
        method: "get",
        path: "/v1/api/chats",
        scope: Some("chats:read"),
        summary: "The site's chats, greatest id (newest) first, a page at a time; with q (or any other search filter) the history search over them, each chat with the snippet of the message holding the words.",
        params: &[
            "limit",
            "cursor",
            "chat_state",
            "q",
            "search_visitor",
            "operator",
            "date",
            "from",
            "to",
        ],
        body: None,
        answer: ("200", "ChatPage"),
    },
    Op {
        method: "get",
        path: "/v1/api/chats/{chat}",
        scope: Some("chats:read"),
        summary: "One chat.",
        params: &["chat"],
        body: None,
        answer: ("200", "Chat"),
    },
    Op {
        method: "post",
        path: "/v1/api/chats/{chat}/close",
        scope: Some("messages:write"),
        summary: "Close a chat (a closed one stays closed); visitor and consoles are told.",
        params: &["chat", "Idempotency-Key"],
        body: None,
        answer: ("200", "Chat"),
    },
    Op {
        method: "post",
        path: "/v1/api/chats/{chat}/transfer",
        scope: Some("messages:write"),
        summary: "Hand a chat to an operator of the site (assigns a waiting chat); the operator's consoles get it at once.",
        params: &["chat", "Idempotency-Key"],
        body: Some("Transfer"),
        answer: ("200", "Chat"),
    },
    Op {
        method: "get",
        path: "/v1/api/chats/{chat}/messages",
        scope: Some("chats:read"),
        summary: "A chat's messages in display order, a page at a time.",
        params: &["chat", "limit", "cursor"],
        body: None,
        answer: ("200", "MessagePage"),
    },
    Op {
        method: "post",
        path: "/v1/api/chats/{chat}/messages",
        scope: Some("messages:write"),
        summary: "Write a message as an operator of the site or as the site; it reaches the visitor and the consoles live. 201 when made, 200 with Idempotent-Replayed: true when the Idempotency-Key names one already stored.",
        params: &["chat", "Idempotency-Key"],
        body: Some("PostMessage"),
        answer: ("201", "Message"),
    },
    Op {
        method: "get",
        path: "/v1/api/notes",
        scope: Some("chats:read"),
        summary: "The site's newest offline notes (no cursor).",
        params: &["limit"],
        body: None,
        answer: ("200", "NotePage"),
    },
    Op {
        method: "get",
        path: "/v1/api/operators",
        scope: Some("operators:manage"),
        summary: "The operators serving the site (agents naming it, and admins), and who is online.",
        params: &[],
        body: None,
        answer: ("200", "Operators"),
    },
    Op {
        method: "post",
        path: "/v1/api/sites/{site}/webhooks",
        scope: Some("settings:manage"),
        summary: "Subscribe a URL to some of the site's events. 201 with the signing secret (shown here only); 200 with Idempotent-Replayed: true when the Idempotency-Key names one already made. At most 20 per site; http or https, at most 2,048 bytes; inner addresses refused unless the relay allows them.",
        params: &["site", "Idempotency-Key"],
        body: Some("NewWebhook"),
        answer: ("201", "Webhook"),
    },
    Op {
        method: "get",
        path: "/v1/api/sites/{site}/webhooks",
        scope: Some("settings:manage"),
        summary: "The site's webhook subscriptions (without their secrets).",
        params: &["site"],
        body: None,
        answer: ("200", "WebhookList"),
    },
    Op {
        method: "get",
        path: "/v1/api/sites/{site}/webhooks/{webhook}",
        scope: Some("settings:manage"),
        summary: "One webhook subscription (without its secret).",
        params: &["site", "webhook"],
        body: None,
        answer: ("200", "Webhook"),
    },
    Op {
        method: "patch",
        path: "/v1/api/sites/{site}/webhooks/{webhook}",
        scope: Some("settings:manage"),
        summary: "Turn a subscription off or on again (200 with it, without its secret). While off, no event is queued for it and its pending deliveries wait; on again, they go on. A new URL or new events is a new subscription.",
        params: &["site", "webhook"],
        body: Some("WebhookChange"),
        answer: ("200", "Webhook"),
    },
    Op {
        method: "delete",
        path: "/v1/api/sites/{site}/webhooks/{webhook}",
        scope: Some("settings:manage"),
        summary: "Delete a subscription (204): nothing more is sent to it from either deployment; its delivery log stays.",
        params: &["site", "webhook"],
        body: None,
        answer: ("204", ""),
    },
    Op {
        method: "get",
        path: "/v1/api/sites/{site}/webhooks/{webhook}/deliveries",
        scope: Some("settings:manage"),
        summary: "The delivery log, newest event first: each event's id and type, attempts, last status or error, next attempt, delivery time.",
        params: &["site", "webhook", "log_limit"],
        body: None,
        answer: ("200", "DeliveryList"),
    },
    Op {
        method: "post",
        path: "/v1/api/sites/{site}/webhooks/{webhook}/test",
        scope: Some("settings:manage"),
        summary: "The test button: a webhook.test event sent to this subscription now (202 with its log line).",
        params: &["site", "webhook"],
        body: None,
        answer: ("202", "Delivery"),
    },
    Op {
        method: "get",
        path: "/v1/api/sites/{site}/visitors/{visitor}/export",
        scope: Some("data:manage"),
        summary: "Everything this deployment holds of a visitor, as one document: chats with messages, ratings and visitor details, and the erasures of that visitor id.",
        params: &["site", "visitor"],
        body: None,
        answer: ("200", "Export"),
    },
    Op {
        method: "delete",
        path: "/v1/api/sites/{site}/visitors/{visitor}",
        scope: Some("data:manage"),
        summary: "Erase a visitor's chats (messages, ratings, details) on both deployments: a replicated tombstone that wins over every late copy and every client replay. Erasing again is harmless.",
        params: &["site", "visitor"],
        body: None,
        answer: ("200", "Erasure"),
    },
    Op {
        method: "get",
        path: "/v1/api/sites/{site}/export",
        scope: Some("data:manage"),
        summary: "Everything this deployment holds under an email: offline notes left with it, chats whose pre-chat email it is, and its erasures.",
        params: &["site", "email"],
        body: None,
        answer: ("200", "Export"),
    },
    Op {
        method: "delete",
        path: "/v1/api/sites/{site}/data",
        scope: Some("data:manage"),
        summary: "Erase what an email covers (its notes, the chats whose pre-chat email it is) on both deployments, as a replicated tombstone.",
        params: &["site", "email"],
        body: None,
        answer: ("200", "Erasure"),
    },
    Op {
        method: "get",
        path: "/v1/api/sites/{site}/retention",
        scope: Some("data:manage"),
        summary: "The retention's dry run: how many closed chats and offline notes the site's retention period would erase now (days null: the site keeps everything).",
        params: &["site"],
        body: None,
        answer: ("200", "RetentionDryRun"),
    },
    Op {
        method: "get",
        path: "/v1/api/openapi.json",
        scope: None,
        summary: "This document.",
        params: &[],
        body: None,
        answer: ("200", ""),
    },
    Op {
        method: "get",
        path: "/v1/api/docs",
        scope: None,
        summary: "This document as an HTML page.",
        params: &[],
        body: None,
        answer: ("200", ""),
    },
];

fn parameter(name: &str) -> Value {
    match name {
        "chat" => json!({"name": "chat", "in": "path", "required": true,
            "schema": {"type": "string"}, "description": "The chat's id."}),
        "limit" => json!({"name": "limit", "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "description": "Items in the page."}),
        "cursor" => json!({"name": "cursor", "in": "query", "schema": {"type": "string"},
            "description": "The next_cursor of the previous page; valid on both deployments."}),
        "chat_state" => json!({"name": "state", "in": "query",
            "schema": {"type": "string", "enum": ["waiting", "active", "closed", "open"]},
            "description": "Only chats in this state (open: waiting or active, a search)."}),
        "q" => json!({"name": "q", "in": "query",
            "schema": {"type": "string", "maxLength": crate::store::search::MAX_QUERY_CHARS},
            "description": format!("Words (letters and digits; anything else separates them, \
                at most {} words), all of which one message of the chat holds, each as a prefix, \
                case aside. A search's limit is at most {} (default {}).",
                crate::store::search::MAX_WORDS, crate::store::search::MAX_LIMIT,
                crate::store::search::DEFAULT_LIMIT)}),
        "search_visitor" => json!({"name": "visitor", "in": "query",
            "schema": {"type": "string", "maxLength": crate::store::search::MAX_FILTER_CHARS},
            "description": "A visitor id, a pre-chat email, or a part of a pre-chat name (ASCII case aside)."}),
        "operator" => json!({"name": "operator", "in": "query",
            "schema": {"type": "string", "maxLength": crate::store::search::MAX_FILTER_CHARS},
            "description": "The operator holding or last holding the chat (username)."}),
        "date" => json!({"name": "date", "in": "query",
            "schema": {"type": "string", "enum": ["started", "closed"], "default": "started"},
            "description": "What from and to bound: when the chat started (its id's time) or when it was closed (closed chats only)."}),
        "from" => json!({"name": "from", "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": twinline_core::model::MAX_SAFE_INTEGER},
            "description": "From this time on, ms since the epoch."}),
        "to" => json!({"name": "to", "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": twinline_core::model::MAX_SAFE_INTEGER},
            "description": "Before this time, ms since the epoch."}),
        "site" => json!({"name": "site", "in": "path", "required": true,
            "schema": {"type": "string"}, "description": "The key's site (another is not_found)."}),
        "visitor" => json!({"name": "visitor", "in": "path", "required": true,
            "schema": {"type": "string", "minLength": 26, "maxLength": 26},
            "description": "The visitor's id, as chats show it."}),
        "email" => json!({"name": "email", "in": "query", "required": true,
            "schema": {"type": "string"}, "description": "Compared case-blind."}),
        "webhook" => json!({"name": "webhook", "in": "path", "required": true,
            "schema": {"type": "string"}, "description": "The subscription's id (wh_...)."}),
        "log_limit" => json!({"name": "limit", "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": super::webhooks::MAX_LOG,
                "default": super::webhooks::MAX_LOG},
            "description": "Deliveries in the answer, newest event first."}),
        "Idempotency-Key" => json!({"name": "Idempotency-Key", "in": "header",
            "schema": {"type": "string", "minLength": 1, "maxLength": super::idempotency::MAX_KEY_BYTES},
            "description": "Visible ASCII. A retry with the same key, on either deployment, creates nothing twice."}),
        _ => Value::Null,
    }
}

/// The event types, as the documents name them (with the test event where
/// a delivery may carry it).
fn event_type(with_test: bool) -> Value {
    use crate::store::webhooks::EventType;
    let mut names: Vec<&str> = EventType::SUBSCRIBABLE.iter().map(|e| e.as_str()).collect();
    if with_test {
        names.push(EventType::Test.as_str());
    }
    json!({"type": "string", "enum": names})
}

fn schemas() -> Value {
    let text = json!({"type": "string"});
    let int = json!({"type": "integer"});
    let page = |item: &str| {
        json!({"type": "object", "required": ["items", "next_cursor"], "properties": {
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "next_cursor": {"type": ["string", "null"]}}})
    };
    json!({
        "Chat": {"type": "object", "properties": {
            "id": text, "visitor": text, "created": int,
            "state": {"type": "string", "enum": ["waiting", "active", "closed"]},
            "operator": {"type": ["string", "null"]},
            "name": text, "email": text, "page": text,
            "snippet": {"type": "string", "description": "A search's only: where its words are, plain text."}}},
        "Message": {"type": "object", "properties": {
            "id": text, "chat": text,
            "role": {"type": "string", "enum": ["visitor", "operator", "system"]},
            "author": text, "name": text, "text": text, "at": int}},
        "Note": {"type": "object", "properties": {
            "id": text, "name": text, "email": text, "text": text, "at": int}},
        "PostMessage": {"type": "object", "required": ["text"], "additionalProperties": false,
            "properties": {
                "text": {"type": "string", "maxLength": twinline_core::model::MAX_TEXT_CHARS,
                    "description": format!("Plain text, 1 to {} characters.",
                        twinline_core::model::MAX_TEXT_CHARS)},
                "operator": {"type": "string", "description": "Write as this operator of the site."},
                "name": {"type": "string", "maxLength": twinline_core::model::MAX_FIELD_CHARS,
                    "description": "The name shown when writing as the site."}}},
        "Transfer": {"type": "object", "required": ["to"], "additionalProperties": false,
            "properties": {"to": {"type": "string", "description": "The operator's username."}}},
        "Operators": {"type": "array", "items": {"type": "object", "properties": {
            "username": text, "name": text,
            "role": {"type": "string", "enum": ["agent", "admin"]},
            "online": {"type": "boolean"}}}},
        "Erasure": {"type": "object", "required": ["id", "site", "chats", "notes", "at"], "properties": {
            "id": text, "site": text, "visitor": text, "email": text,
            "chats": {"type": "array", "items": text, "description": "The chats erased where it was made."},
            "notes": {"type": "array", "items": text, "description": "The offline notes erased where it was made."},
            "at": {"type": "integer", "description": "When it was made: chats of the visitor made up to then are erased wherever they arrive."},
            "stamp": {"type": "object"},
            "reason": {"type": "string", "enum": ["request", "retention"]}}},
        "Export": {"type": "object", "required": ["site", "exported_at", "chats", "notes", "erasures"], "properties": {
            "site": text, "visitor": text, "email": text, "exported_at": int,
            "chats": {"type": "array", "items": {"type": "object", "description": "The chat header as stored (visitor details in info, the rating in rating) with its messages."}},
            "notes": {"type": "array", "items": {"type": "object"}},
            "erasures": {"type": "array", "items": {"$ref": "#/components/schemas/Erasure"}}}},
        "RetentionDryRun": {"type": "object", "required": ["site", "days", "before", "chats", "notes"], "properties": {
            "site": text, "days": {"type": ["integer", "null"]}, "before": {"type": ["integer", "null"]},
            "chats": int, "notes": int}},
        "NewWebhook": {"type": "object", "required": ["url", "events"], "additionalProperties": false,
            "properties": {
                "url": {"type": "string", "maxLength": crate::webhooks::target::MAX_URL_BYTES,
                    "description": "Where deliveries are POSTed: http or https."},
                "events": {"type": "array", "minItems": 1, "items": event_type(false),
                    "description": "The events it receives."},
                "enabled": {"type": "boolean", "default": true,
                    "description": "Whether it receives events now."}}},
        "WebhookChange": {"type": "object", "required": ["enabled"], "additionalProperties": false,
            "properties": {
                "enabled": {"type": "boolean", "description": "Whether it receives events from now on."}}},
        "Webhook": {"type": "object", "properties": {
            "id": text, "site": text, "url": text,
            "events": {"type": "array", "items": event_type(false)},
            "enabled": {"type": "boolean"}, "created": int,
            "secret": {"type": "string", "description": "whsec_...: in the creating answer only."}}},
        "WebhookList": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}},
        "Delivery": {"type": "object", "properties": {
            "event": text, "type": event_type(true),
            "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": int, "owner": text,
            "last_status": {"type": ["integer", "null"]}, "last_error": text,
            "next_attempt": {"type": ["integer", "null"]},
            "delivered_at": {"type": ["integer", "null"]}, "at": int}},
        "DeliveryList": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}},
        "ChatPage": page("Chat"),
        "MessagePage": page("Message"),
        "NotePage": page("Note"),
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "description": "A stable code (docs/API.md)."},
            "message": text}},
    })
}

/// The document.
pub fn spec() -> Value {
    let mut paths = serde_json::Map::new();
    for op in OPS {
        let mut operation = json!({
            "summary": op.summary,
            "parameters": op.params.iter().map(|p| parameter(p)).collect::<Vec<_>>(),
            "responses": {
                op.answer.0: {"description": "OK", "content": {"application/json": {"schema":
                    if op.answer.1.is_empty() { json!({}) }
                    else { json!({"$ref": format!("#/components/schemas/{}", op.answer.1)}) }}}},
                "default": {"description": "A refusal", "content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(scope) = op.scope {
            operation["security"] = json!([{"apiKey": []}]);
            operation["x-scope"] = json!(scope);
        } else {
            operation["security"] = json!([]);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json":
                {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Twinline REST API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Chats, messages, offline notes and webhooks of one site, for API keys made with `twinline-relay apikey add`. Either deployment answers the same."},
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                "description": "Authorization: Bearer twl_<id>_<secret>"}},
            "schemas": schemas(),
        },
        "paths": paths,
    })
}

/// `GET /v1/api/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(spec())
}

/// Text for HTML (element content and attribute values).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page: every operation of the document with its scope and
/// parameters, rendered from [`spec`] itself.
pub fn render(spec: &Value) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Twinline REST API</title><style>body{font:15px/1.5 system-ui,sans-serif;\
         max-width:52rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}\
         h2{font-size:1.05rem;margin-top:1.6rem}</style></head><body><h1>Twinline REST API</h1>",
    );
    let info = spec["info"]["description"].as_str().unwrap_or_default();
    html.push_str(&format!(
        "<p>{}</p><p>The machine-readable document: <a href=\"openapi.json\">openapi.json</a>.</p>",
        escape(info)
    ));
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            let Some(methods) = item.as_object() else {
                continue;
            };
            for (method, op) in methods {
                html.push_str(&format!(
                    "<h2><code>{} {}</code></h2><p>{}</p>",
                    escape(&method.to_uppercase()),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or_default())
                ));
                if let Some(scope) = op["x-scope"].as_str() {
                    html.push_str(&format!("<p>Scope: <code>{}</code></p>", escape(scope)));
                }
                let params: Vec<String> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        format!(
                            "<li><code>{}</code> ({}): {}</li>",
                            escape(p["name"].as_str().unwrap_or_default()),
                            escape(p["in"].as_str().unwrap_or_default()),
                            escape(p["description"].as_str().unwrap_or_default())
                        )
                    })
                    .collect();
                if !params.is_empty() {
                    html.push_str(&format!("<ul>{}</ul>", params.concat()));
                }
                if let Some(body) = request_body(spec, op) {
                    html.push_str(&body);
                }
            }
        }
    }
    html.push_str("</body></html>");
    html
}

/// A JSON body's fields, as the page lists them.
fn request_body(spec: &Value, op: &Value) -> Option<String> {
    let reference = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()?;
    let name = reference.rsplit('/').next()?;
    let schema = &spec["components"]["schemas"][name];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let fields: Vec<String> = schema["properties"]
        .as_object()?
        .iter()
        .map(|(field, property)| {
            let need = if required.contains(&field.as_str()) {
                "required"
            } else {
                "optional"
            };
            format!(
                "<li><code>{}</code> ({need}): {}</li>",
                escape(field),
                escape(property["description"].as_str().unwrap_or_default())
            )
        })
        .collect();
    Some(format!("<p>JSON body:</p><ul>{}</ul>", fields.concat()))
}

/// `GET /v1/api/docs`.
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        render(&spec()),
    )
}
