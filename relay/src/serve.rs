//! `twinline-relay serve`: wiring. Opens the store, builds the router, binds,
//! prints the address, starts replication, and shuts down cleanly on SIGTERM
//! or Ctrl-C.
//!
//! Shutdown order: health turns not-ready (the moderator and clients move
//! away), every socket is closed with "going away" (clients reconnect to the
//! other deployment and replay), the server stops, then the store writer
//! finishes its queue and closes the file. Nothing acknowledged can be lost
//! at any step, because an ack is only sent after its commit.

use crate::config::Config;
pub use crate::config::ServeArgs;
use crate::console_page::{self, ConsolePage};
use crate::limits::defaults;
use crate::net::{self, Caps};
use crate::state::{AppState, Shared};
use crate::store::Store;
use crate::{assets, http, replication, ws};
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Threads tokio may start for blocking work. The store's reads have
/// threads of their own (one per reader connection, see
/// `store::read_threads`); what is left here is the static files under
/// `--www` (tower-http reads them through `tokio::fs`) and start-up. Each
/// blocking thread that allocates can get a malloc arena of its own, kept
/// after the thread idles, so the pool is bounded well below tokio's 512.
pub const BLOCKING_THREADS: usize = 8;

/// Runs `serve`.
pub fn run_from_cli(args: ServeArgs) -> anyhow::Result<()> {
    crate::logging::init();
    let config = Config::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()?;
    runtime.block_on(run(config))
}

/// CORS for an API, from an allow-list: an Origin is answered only if
/// `allowed` says so, never `null` and never by mirroring whatever came.
fn cors(state: &Shared, allowed: fn(&Config, &HeaderMap, &str) -> bool) -> CorsLayer {
    let config = Arc::new(state.config.clone());
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, request| {
            origin
                .to_str()
                .is_ok_and(|origin| origin != "null" && allowed(&config, &request.headers, origin))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(Duration::from_secs(600))
}

/// The visitor API (tokens): the configured sites' origins, and pages this
/// relay serves itself.
fn visitor_origin(config: &Config, headers: &HeaderMap, origin: &str) -> bool {
    config.any_site_allows(origin) || http::is_same_origin(headers, origin)
}

/// The operator API (login, logout): the relay's own origin (the console it
/// serves) and the peer's (the console loaded there before a failover).
fn operator_origin(config: &Config, headers: &HeaderMap, origin: &str) -> bool {
    http::is_same_origin(headers, origin) || config.peer_origin() == Some(origin)
}

/// Health, which the widget on customers' pages and the console probe.
fn probe_origin(config: &Config, headers: &HeaderMap, origin: &str) -> bool {
    visitor_origin(config, headers, origin) || operator_origin(config, headers, origin)
}

/// Builds the HTTP router around the shared state; `console` answers for
/// the operator console's page.
pub fn router(state: Shared, console: ConsolePage) -> Router {
    let health = Router::new()
        .route("/v1/health", get(http::health))
        .layer(cors(&state, probe_origin));
    let visitor_api = Router::new()
        .route("/v1/visitor/token", post(http::visitor_token))
        .layer(cors(&state, visitor_origin));
    let operator_api = Router::new()
        .route("/v1/operator/login", post(http::operator_login))
        .route("/v1/operator/logout", post(http::operator_logout))
        .route("/v1/operator/history", get(crate::history::search))
        .route("/v1/operator/history/{chat}", get(crate::history::chat))
        .layer(cors(&state, operator_origin));
    // Administration and replication are for tools and the peer, never for
    // pages: no CORS at all.
    let api = Router::new()
        .merge(health)
        .merge(visitor_api)
        .merge(operator_api)
        .route(
            "/v1/admin/drain",
            post(http::drain).get(http::drain_progress),
        )
        .route("/v1/admin/undrain", post(http::undrain))
        .route("/metrics", get(http::metrics))
        .merge(replication::routes())
        // The REST API, for a site's servers: no CORS either.
        .merge(crate::api::routes())
        .layer(request_timeout());
    // Static assets, compressed and cached by name (see assets.rs).
    let assets = assets::router(&state.config.www);
    let assets = console_page::wrap(assets, console);
    // Which node answered, behind a load balancer (tests, operations).
    let node = state
        .cluster
        .as_ref()
        .and_then(|c| HeaderValue::from_str(&c.node).ok());
    Router::new()
        .merge(api)
        .route("/v1/ws", get(ws::upgrade))
        .merge(assets)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::HeaderName::from_static("x-twinline-node"),
            move |_: &axum::http::Response<_>| node.clone(),
        ))
        // Every refusal is the documented JSON body, axum's own included.
        .layer(axum::middleware::map_response(http::json_refusals))
        // No answer of the relay is ever to be sniffed into another type:
        // a JSON refusal quoting a hostile value, or the API's docs page,
        // must stay what its Content-Type says (the assets set it too).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
        .with_state(state)
}

/// How a failed response is logged. A 503 is an answer given on purpose
/// (health while not ready or draining, storage unavailable, a throttle):
/// at error level every load balancer and moderator probe of a relay that is
/// not ready wrote about ten error lines a second, burying real failures. It
/// goes at debug; any other 5xx, or a response that failed while streaming,
/// stays an error.
pub(crate) fn log_failure(
    class: ServerErrorsFailureClass,
    latency: Duration,
    _span: &tracing::Span,
) {
    let latency_ms = latency.as_millis();
    match class {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(
                latency_ms,
                "answered 503 (not ready, draining or unavailable)"
            );
        }
        other => tracing::error!(classification = %other, latency_ms, "response failed"),
    }
}

/// A request (its body included) that has not been answered within
/// [`defaults::REQUEST_TIMEOUT_SECS`] gets `408 {"error":"timeout",…}`: a
/// client that trickles a body cannot hold a handler. WebSocket upgrades
/// answer at once, so their connections are not cut by it.
pub(crate) fn request_timeout<S>() -> impl tower::Layer<
    S,
    Service = impl tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone
              + Send
              + Sync
              + 'static,
> + Clone
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            http::ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request took too long to arrive",
            )
        }))
        .timeout(Duration::from_secs(defaults::REQUEST_TIMEOUT_SECS))
}

/// Runs a relay until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let console = ConsolePage::new(&config)?;
    let location = config.location();
    // Opening connects and migrates: blocking work, off the async threads.
    let (store, writer) = tokio::task::spawn_blocking(move || Store::open_at(&location)).await??;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let caps = Caps::for_this_process(&config.listener);
    let limits = config.listener.clone();
    let state: Shared = Arc::new(AppState::new(config, store, caps));
    tracing::info!(
        deployment = %state.config.name,
        role = ?state.config.role,
        epoch = state.store.epoch(),
        store = %state.store.location().describe(),
        node = state.cluster.as_ref().map(|c| c.node.as_str()),
        "relay starting"
    );
    let replication = replication::spawn(state.clone());
    let cluster = crate::cluster::spawn(&state);
    let health = tokio::spawn(state.store.clone().watch());
    let sessions = tokio::spawn(crate::sessions::watch(state.clone()));
    let retention = tokio::spawn(crate::erasure::retention::run(state.clone()));
    let webhooks = crate::webhooks::spawn(&state);
    // The one line scripts and tests wait for.
    println!("twinline-relay listening on http://{address}");
    let shutdown_state = state.clone();
    net::serve(
        listener,
        router(state.clone(), console),
        limits,
        caps,
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing client connections");
            shutdown_state.begin_shutdown();
            shutdown_state.hub.close_all("going away");
        },
    )
    .await?;
    replication.abort();
    sessions.abort();
    retention.abort();
    health.abort();
    if let Some(webhooks) = webhooks {
        webhooks.abort();
    }
    for task in cluster {
        task.abort();
    }
    // Sockets finish their last writes, then the store handles drop and the
    // writer commits whatever is still queued.
    for _ in 0..50 {
        if Arc::strong_count(&state) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if Arc::strong_count(&state) == 1 {
        drop(state);
        tokio::task::spawn_blocking(move || writer.join()).await?;
        tracing::info!("store closed cleanly");
    } else {
        tracing::warn!("connections still open after 2.5 s; exiting (every ack was committed)");
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (the moderator shuts down the same way).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
