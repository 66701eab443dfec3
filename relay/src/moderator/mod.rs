//! The moderator (`twinline-relay moderator`): watches both deployments and
//! tells clients which one is active. It holds no state that matters: if it
//! dies, clients probe the deployments themselves (primary if it answers,
//! else redundant), and the relays never depend on it.
//!
//! Every decision is made by [`twinline_core::moderation::Moderation`]; this
//! module only does the I/O around it.
//!
//! # Layout
//! - [`args`]: flags and environment, checked into [`args::ModeratorConfig`]
//!   (and why the default timings are what they are).
//! - [`state`]: the decision machine behind a mutex and the cached answers.
//! - [`prober`]: one health-probing task per deployment.
//! - [`relay_calls`]: drain and undrain calls to the relays, in order.
//! - [`http`]: `/v1/active`, `/v1/status`, `POST /v1/admin/active`.
//! - [`page`]: the self-refreshing status page at `/`.
//! - [`switch`]: `twinline-relay switch`, manual failover from a shell.

pub mod args;
pub mod http;
pub mod page;
pub mod prober;
pub mod relay_calls;
pub mod state;
pub mod switch;

pub use args::{AllowedOrigins, ModeratorArgs, ModeratorConfig};

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{get, post};
use page::StatusPage;
use prober::Prober;
use state::ModeratorState;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use twinline_core::moderation::Moderation;
use twinline_core::protocol::DeploymentRole;

/// Runs `moderator`.
pub fn run_from_cli(args: ModeratorArgs) -> anyhow::Result<()> {
    crate::logging::init();
    let config = ModeratorConfig::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        // The one line scripts and tests wait for.
        println!("twinline-moderator listening on http://{address}");
        run(config, listener, crate::serve::shutdown_signal()).await
    })
}

/// The moderator's router.
pub fn router(state: Arc<ModeratorState>, page: StatusPage, origins: &AllowedOrigins) -> Router {
    let allow_origin = match origins {
        AllowedOrigins::Any => AllowOrigin::any(),
        AllowedOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    let cors = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    let api = Router::new()
        .route("/v1/active", get(http::active))
        .route("/v1/status", get(http::status))
        .layer(cors)
        .route("/v1/admin/active", post(http::admin_active))
        .with_state(state);
    let pages = Router::new()
        .route("/", get(StatusPage::serve))
        .with_state(page)
        .route("/status.js", get(page::script));
    api.merge(pages)
        .layer(crate::serve::request_timeout())
        .layer(TraceLayer::new_for_http().on_failure(crate::serve::log_failure))
}

/// Runs the moderator on `listener` until `shutdown` completes.
pub async fn run(
    config: ModeratorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Epochs start at wall-clock milliseconds so a restarted moderator never
    // answers with an epoch its clients have already passed (they ignore
    // older epochs as stale).
    let machine = Moderation::new(
        config.rules.clone(),
        config.primary.clone(),
        config.redundant.clone(),
        crate::clock::now().0,
    );
    let (actions_tx, actions_rx) = tokio::sync::mpsc::unbounded_channel();
    let state = Arc::new(ModeratorState::new(
        machine,
        actions_tx,
        config.admin_token.clone(),
    ));
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(config.probe_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    tracing::info!(
        primary = %config.primary.url,
        redundant = %config.redundant.url,
        interval_ms = config.probe_interval.as_millis() as u64,
        timeout_ms = config.probe_timeout.as_millis() as u64,
        down_after = config.rules.down_after,
        "moderator starting"
    );
    let mut tasks = Vec::new();
    for (role, endpoint) in [
        (DeploymentRole::Primary, &config.primary),
        (DeploymentRole::Redundant, &config.redundant),
    ] {
        let prober = Prober {
            state: state.clone(),
            http: http.clone(),
            role,
            url: endpoint.url.clone(),
            interval: config.probe_interval,
            timeout: config.probe_timeout,
            silence: config.probe_timeout * config.rules.down_after,
            relay_admin_token: config.relay_admin_token.clone(),
        };
        tasks.push(tokio::spawn(prober.run()));
    }
    // Relay calls get a longer timeout than probes: a drain on a busy
    // relay is worth waiting a few seconds for.
    tasks.push(tokio::spawn(relay_calls::run(
        actions_rx,
        http,
        config.relay_admin_token.clone(),
        config.probe_timeout.max(Duration::from_secs(5)),
    )));
    let page = StatusPage::new(&config.primary.name, &config.redundant.name);
    let caps = crate::net::Caps::for_this_process(&config.listener);
    crate::net::serve(
        listener,
        router(state, page, &config.origins),
        config.listener.clone(),
        caps,
        async move {
            shutdown.await;
            tracing::info!("moderator shutting down");
        },
    )
    .await?;
    for task in tasks {
        task.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use twinline_core::moderation::{Endpoint, ModerationConfig};
    use twinline_core::protocol::ActiveDeployment;

    fn app(origins: AllowedOrigins) -> Router {
        let endpoint = |name: &str| Endpoint {
            name: name.into(),
            url: format!("http://{name}.test"),
        };
        let machine = Moderation::new(
            ModerationConfig::default(),
            endpoint("eu"),
            endpoint("us"),
            7,
        );
        let (actions, _) = tokio::sync::mpsc::unbounded_channel();
        let state = Arc::new(ModeratorState::new(machine, actions, "secret".into()));
        router(state, StatusPage::new("eu", "us"), &origins)
    }

    async fn body(response: axum::response::Response) -> Vec<u8> {
        response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn active_is_served_from_the_cache_with_cors() {
        let response = app(AllowedOrigins::List(vec!["https://shop.test".into()]))
            .oneshot(
                Request::get("/v1/active")
                    .header("Origin", "https://shop.test")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "https://shop.test"
        );
        let answer: ActiveDeployment = serde_json::from_slice(&body(response).await).expect("json");
        assert_eq!((answer.active.as_str(), answer.epoch), ("eu", 7));
    }

    /// `POST /v1/admin/active` from `client`, as `net::serve` hands it on.
    fn admin_request(authorization: Option<&str>, client: &str, body: &str) -> Request<Body> {
        let mut request = Request::post("/v1/admin/active")
            .extension(crate::net::ClientIp(client.parse().expect("an address")));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.body(Body::from(body.to_string())).expect("request")
    }

    #[tokio::test]
    async fn admin_needs_the_exact_bearer_token() {
        for authorization in [
            None,
            Some("Bearer secre"),
            Some("Bearer secret2"),
            Some("secret"),
        ] {
            let response = app(AllowedOrigins::Any)
                .oneshot(admin_request(
                    authorization,
                    "192.0.2.1",
                    r#"{"release":true}"#,
                ))
                .await
                .expect("response");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{authorization:?}"
            );
        }
        let response = app(AllowedOrigins::Any)
            .oneshot(admin_request(
                Some("Bearer secret"),
                "192.0.2.1",
                r#"{"release":true}"#,
            ))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn wrong_admin_tokens_are_throttled_per_client_address() {
        let app = app(AllowedOrigins::Any);
        let send = |authorization: &'static str, client: &'static str| {
            app.clone().oneshot(admin_request(
                Some(authorization),
                client,
                r#"{"release":true}"#,
            ))
        };
        for _ in 0..crate::throttle::ADDRESS_ADMIN_FAILURES.burst {
            let response = send("Bearer wrong", "192.0.2.1").await.expect("response");
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let throttled = send("Bearer secret", "192.0.2.1").await.expect("response");
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(throttled.headers().contains_key("retry-after"));
        // Another address is not touched.
        let response = send("Bearer secret", "192.0.2.2").await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn switching_to_a_deployment_never_probed_is_refused() {
        let response = app(AllowedOrigins::Any)
            .oneshot(admin_request(
                Some("Bearer secret"),
                "192.0.2.1",
                r#"{"active":"us","hold":true}"#,
            ))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let text = String::from_utf8(body(response).await).expect("utf-8");
        assert!(text.contains("not_up"), "{text}");
    }
}
