//! Keeps docs/PROTOCOL.md true: every JSON example there must parse as the
//! type it documents and serialise back to the same JSON, and every frame
//! type must have an example.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeSet;
use twinline_core::protocol::{
    ActiveDeployment, ClientFrame, ConsoleConfig, Health, LoginRequest, LoginResponse, ServerFrame,
    VisitorTokenRequest, VisitorTokenResponse,
};

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// (info string after ```json, body) of every JSON block.
fn examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        if let Some(kind) = line.strip_prefix("```json") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push((kind.trim().to_string(), body.join("\n")));
        }
    }
    out
}

fn round_trips<T: Serialize + DeserializeOwned>(kind: &str, body: &str) {
    let value: T = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{kind} example does not parse: {e}\n{body}"));
    let again = serde_json::to_value(&value).unwrap();
    let original: Value = serde_json::from_str(body).unwrap();
    assert_eq!(again, original, "{kind} example does not round-trip");
}

/// The relay's full health body: what clients read parses as [`Health`]
/// (the rest they ignore), and the relay's own fields hold documented
/// values.
fn relay_health(body: &str) {
    serde_json::from_str::<Health>(body)
        .unwrap_or_else(|e| panic!("the relay's health body does not parse as Health: {e}"));
    let value: Value = serde_json::from_str(body).unwrap();
    let store = value["store"].as_str().unwrap_or_default();
    assert!(
        ["ok", "failing", "low_space", "unreachable"].contains(&store),
        "undocumented store state {store:?}"
    );
    assert!(value["peer_clock_offset_ms"].is_null() || value["peer_clock_offset_ms"].is_i64());
}

#[test]
fn every_example_matches_the_types() {
    let examples = examples();
    assert!(
        examples.len() >= 30,
        "only {} examples found",
        examples.len()
    );
    for (kind, body) in &examples {
        match kind.as_str() {
            "client" => round_trips::<ClientFrame>(kind, body),
            "server" => round_trips::<ServerFrame>(kind, body),
            "http:health" => round_trips::<Health>(kind, body),
            "http:health_relay" => relay_health(body),
            "http:active" => round_trips::<ActiveDeployment>(kind, body),
            "http:visitor_token_request" => round_trips::<VisitorTokenRequest>(kind, body),
            "http:visitor_token_response" => round_trips::<VisitorTokenResponse>(kind, body),
            "http:login_request" => round_trips::<LoginRequest>(kind, body),
            "http:login_response" => round_trips::<LoginResponse>(kind, body),
            "http:console_config" => round_trips::<ConsoleConfig>(kind, body),
            "http:file_upload" => round_trips::<twinline_core::files::UploadStatus>(kind, body),
            "http:file_complete" => {
                round_trips::<twinline_core::files::CompleteRequest>(kind, body)
            }
            "http:file" => round_trips::<twinline_core::files::FileMeta>(kind, body),
            other => panic!("unknown example kind {other:?}"),
        }
    }
}

#[test]
fn every_frame_type_is_documented() {
    let documented = |side: &str| -> BTreeSet<String> {
        examples()
            .into_iter()
            .filter(|(kind, _)| kind == side)
            .map(|(_, body)| {
                let value: Value = serde_json::from_str(&body).unwrap();
                value["type"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let client: BTreeSet<String> = ClientFrame::TYPES.iter().map(|t| t.to_string()).collect();
    let server: BTreeSet<String> = ServerFrame::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(documented("client"), client);
    assert_eq!(documented("server"), server);
}
