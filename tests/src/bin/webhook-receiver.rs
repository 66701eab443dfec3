//! A webhook receiver for the process tests: an HTTP server that records
//! every POST it gets, with its Standard Webhooks headers, to a file (one
//! JSON line each, written before it answers), and checks each signature
//! itself with HMAC-SHA256, independently of the relay's signing code.
//!
//! `--delay-ms` holds each answer back (so a test can kill the sending relay
//! while a delivery is in flight: the receiver has it, the relay never hears
//! back); `--status` answers with another status (a receiver that fails).
//! Killed with SIGKILL and started again on the same port, it appends to
//! the same file.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Records webhook deliveries to a file and verifies their signatures.
#[derive(Debug, Parser)]
#[command(name = "webhook-receiver")]
struct Args {
    /// Port to listen on, on 127.0.0.1 (0 picks one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The subscription's secret (`whsec_...`) the signatures are checked
    /// with.
    #[arg(long)]
    secret: String,
    /// File the deliveries are appended to, one JSON line each.
    #[arg(long)]
    out: PathBuf,
    /// Milliseconds to wait, after recording a delivery, before answering.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// The HTTP status to answer with.
    #[arg(long, default_value_t = 200)]
    status: u16,
}

struct Receiver {
    key: Vec<u8>,
    out: Mutex<std::fs::File>,
    delay: Duration,
    status: StatusCode,
}

/// Whether `signatures` (space-separated `v1,<base64>`) holds the HMAC of
/// `id.timestamp.body` under `key`.
fn verifies(key: &[u8], id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = header("webhook-id");
    let timestamp = header("webhook-timestamp");
    let signature = header("webhook-signature");
    let valid = verifies(&receiver.key, &id, &timestamp, &body, &signature);
    let received = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let line = serde_json::json!({
        "id": id,
        "timestamp": timestamp,
        "signature": signature,
        "valid": valid,
        "content_type": header("content-type"),
        "body": String::from_utf8_lossy(&body),
        "received": received,
    });
    {
        let mut out = receiver.out.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: a SIGKILL leaves whole lines only.
        let _ = out.write_all(format!("{line}\n").as_bytes());
    }
    if !receiver.delay.is_zero() {
        tokio::time::sleep(receiver.delay).await;
    }
    receiver.status
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let Some(key) = args
        .secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        eprintln!("--secret must be whsec_<base64>");
        return std::process::ExitCode::FAILURE;
    };
    let out = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
    {
        Ok(file) => file,
        Err(error) => {
            eprintln!("opening {}: {error}", args.out.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let receiver = Arc::new(Receiver {
        key,
        out: Mutex::new(out),
        delay: Duration::from_millis(args.delay_ms),
        status: StatusCode::from_u16(args.status).unwrap_or(StatusCode::OK),
    });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("binding port {}: {error}", args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().expect("a bound address");
    println!("webhook-receiver listening on http://{address}");
    let app = Router::new().fallback(receive).with_state(receiver);
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("serving: {error}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
