//! A native client that runs the real core session ([`Session`]) over real
//! WebSockets and HTTP: the same decisions the browser widget makes, driven
//! by tokio instead of the browser. Failover tests and the chaos soak use it.
//!
//! The driver is the usual sans-IO loop: feed inputs and timeouts to the
//! session, carry out its actions. The session sits behind a mutex so a
//! test can act (send, accept) and read (transcript, status) while the
//! driver runs; every action wakes the driver.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use twinline_core::protocol::{ActiveDeployment, DeploymentRole, Health, ServerFrame};
use twinline_core::session::{
    Action, ConnId, Endpoint, Identity, Input, LinkState, Session, SessionConfig, SessionEvent,
    Snapshot, Timing,
};
use twinline_core::{Author, ChatId, MessageId, Millis, Role};

/// How long a probe or a moderator request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Wall-clock milliseconds: message ids embed them, like in the browser.
pub fn now() -> Millis {
    Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

/// Where a native client connects.
#[derive(Clone, Debug)]
pub struct Target {
    /// Primary base URL (`http://127.0.0.1:PORT`).
    pub primary: String,
    /// Redundant base URL.
    pub redundant: String,
    /// Moderator base URL, if any.
    pub moderator: Option<String>,
    /// Delays.
    pub timing: Timing,
}

impl Target {
    /// The session config for `role`.
    pub fn config(&self, role: Role) -> SessionConfig {
        SessionConfig {
            role,
            site: crate::SITE.into(),
            moderator: self.moderator.clone(),
            deployments: vec![
                Endpoint {
                    name: "primary".into(),
                    role: DeploymentRole::Primary,
                    url: self.primary.clone(),
                },
                Endpoint {
                    name: "redundant".into(),
                    role: DeploymentRole::Redundant,
                    url: self.redundant.clone(),
                },
            ],
            timing: self.timing,
        }
    }
}

/// What a client saw, for checks after the fact.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Connection changes: time, state, deployment.
    pub links: Vec<(Millis, LinkState, Option<DeploymentRole>)>,
    /// Acks: time and message.
    pub acks: Vec<(Millis, MessageId)>,
    /// Error codes the relays sent.
    pub errors: Vec<String>,
}

struct Shared {
    session: Mutex<Session>,
    seen: Mutex<Seen>,
    /// Whether the session has asked to be persisted yet (see
    /// [`NativeClient::snapshot`]).
    persisted: AtomicBool,
    wake: Notify,
}

/// A running native client.
pub struct NativeClient {
    shared: Arc<Shared>,
    driver: JoinHandle<()>,
}

impl NativeClient {
    /// `count` visitors started at once (seeds `first_seed` on), in seed
    /// order: the benchmarks' crowd.
    pub async fn visitors(target: &Target, count: usize, first_seed: u64) -> Vec<NativeClient> {
        let started: Vec<_> = (0..count as u64)
            .map(|i| {
                let target = target.clone();
                tokio::spawn(async move { NativeClient::visitor(&target, first_seed + i).await })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for task in started {
            all.push(task.await.expect("a visitor starts"));
        }
        all
    }

    /// A visitor of [`crate::SITE`]: gets a token, then runs its session.
    pub async fn visitor(target: &Target, seed: u64) -> NativeClient {
        let token = visitor_token_race(target).await;
        let identity = Identity {
            token: token.token,
            author: Author {
                role: Role::Visitor,
                id: token.visitor.to_string(),
                name: String::new(),
            },
            chat: Some(token.chat),
        };
        let session = Session::new(target.config(Role::Visitor), identity, now(), seed);
        NativeClient::run(session, Some(crate::SITE_ORIGIN.into()))
    }

    /// An operator logged in with `username` / `password`.
    pub async fn operator(
        target: &Target,
        username: &str,
        password: &str,
        seed: u64,
    ) -> NativeClient {
        let mut login = None;
        for base in [&target.primary, &target.redundant] {
            let attempt = tokio::time::timeout(
                TOKEN_TIMEOUT,
                crate::client::login(base, username, password),
            );
            if let Ok(Ok(l)) = attempt.await {
                login = Some(l);
                break;
            }
        }
        let login = login.expect("an operator login on either deployment");
        let identity = Identity {
            token: login.token,
            author: Author {
                role: Role::Operator,
                id: login.username,
                name: login.name,
            },
            chat: None,
        };
        let session = Session::new(target.config(Role::Operator), identity, now(), seed);
        NativeClient::run(session, None)
    }

    /// A client continued from a snapshot (a page reload).
    pub fn restore(target: &Target, role: Role, snapshot: Snapshot, seed: u64) -> NativeClient {
        let origin = (role == Role::Visitor).then(|| crate::SITE_ORIGIN.to_string());
        let session = Session::restore(target.config(role), snapshot, now(), seed);
        NativeClient::run(session, origin)
    }

    fn run(session: Session, origin: Option<String>) -> NativeClient {
        let shared = Arc::new(Shared {
            session: Mutex::new(session),
            seen: Mutex::new(Seen::default()),
            persisted: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let driver = tokio::spawn(Driver::new(shared.clone(), origin).run());
        NativeClient { shared, driver }
    }

    /// Locks the session to act on it or read it; the driver wakes after.
    pub fn with<T>(&self, f: impl FnOnce(&mut Session, Millis) -> T) -> T {
        let out = f(&mut self.lock(), now());
        self.shared.wake.notify_one();
        out
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        self.shared.session.lock().expect("session lock")
    }

    /// Writes a message in `chat`.
    pub fn say(&self, chat: ChatId, text: &str) -> MessageId {
        self.with(|s, now| s.send(now, chat, text))
            .expect("a valid message")
    }

    /// The visitor's own chat.
    pub fn own_chat(&self) -> ChatId {
        self.lock().identity().chat.expect("a visitor chat")
    }

    /// Message ids of `chat` in display order.
    pub fn transcript(&self, chat: ChatId) -> Vec<MessageId> {
        self.lock()
            .transcript(chat)
            .map(|t| t.ids())
            .unwrap_or_default()
    }

    /// Own messages not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.lock().pending_count()
    }

    /// The link's state and deployment.
    pub fn link(&self) -> (LinkState, Option<DeploymentRole>) {
        let status = self.lock().status();
        (status.state, status.deployment)
    }

    /// What the client saw so far.
    pub fn seen(&self) -> Seen {
        self.shared.seen.lock().expect("seen lock").clone()
    }

    /// What storage would hold: the session's snapshot, once it has asked
    /// to be persisted.
    ///
    /// Made when asked, not on every `Persist`: the driver carries out a
    /// session's actions right after each input, as the widget writes
    /// storage once per drain, so the live snapshot is never more than that
    /// one drain ahead of the persisted one. Copying every chat on every
    /// change instead made the soak's operators, each holding ten long
    /// chats, spend the load generator's CPU on snapshots; its starved
    /// proxies and clients then measured outages that were its own.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.shared
            .persisted
            .load(SeqCst)
            .then(|| self.lock().snapshot())
    }

    /// Waits until the persisted snapshot satisfies `done`, and returns it.
    pub async fn wait_snapshot(
        &self,
        limit: Duration,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(snapshot) = self.snapshot().filter(|s| done(s)) {
                return snapshot;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {limit:?} waiting for a snapshot"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until `done` holds for the session, or panics after `limit`.
    pub async fn wait(&self, limit: Duration, what: &str, done: impl Fn(&Session) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if done(&self.lock()) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let status = self.lock().status();
                panic!("timed out after {limit:?} waiting for {what} (link {status:?})");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for a welcomed link, optionally to a given deployment.
    pub async fn wait_connected(&self, to: Option<DeploymentRole>, limit: Duration) {
        self.wait(limit, &format!("a connection to {to:?}"), |s| {
            let status = s.status();
            status.state == LinkState::Connected && (to.is_none() || status.deployment == to)
        })
        .await;
    }

    /// Stops the driver and closes its sockets (a closed tab).
    pub fn stop(self) {
        self.driver.abort();
    }
}

impl Drop for NativeClient {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// How long the primary has the token request to itself before the
/// redundant is asked too (RFC 8305's connection attempt delay).
const TOKEN_HEAD_START: Duration = Duration::from_millis(250);
/// How long one token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A visitor token from whichever deployment answers first: the primary
/// alone for [`TOKEN_HEAD_START`] (or until it fails), then both at once;
/// again until one answers. A black-holed primary costs a quarter of a
/// second, not a hung client.
async fn visitor_token_race(target: &Target) -> twinline_core::protocol::VisitorTokenResponse {
    let http = reqwest::Client::builder()
        .timeout(TOKEN_TIMEOUT)
        .build()
        .expect("an HTTP client");
    let ask = |base: String| {
        let http = http.clone();
        async move {
            crate::client::visitor_token_with(
                &http,
                &base,
                crate::SITE,
                None,
                Some(crate::SITE_ORIGIN),
            )
            .await
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let primary = ask(target.primary.clone());
        tokio::pin!(primary);
        let early = tokio::select! {
            result = &mut primary => Some(result),
            () = tokio::time::sleep(TOKEN_HEAD_START) => None,
        };
        let found = match early {
            Some(Ok(token)) => Some(token),
            Some(Err(_)) => ask(target.redundant.clone()).await.ok(),
            None => {
                let redundant = ask(target.redundant.clone());
                tokio::pin!(redundant);
                tokio::select! {
                    Ok(token) = &mut primary => Some(token),
                    Ok(token) = &mut redundant => Some(token),
                    else => None,
                }
            }
        };
        if let Some(token) = found {
            return token;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no visitor token from either deployment"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Socket {
    tx: mpsc::UnboundedSender<String>,
    task: JoinHandle<()>,
}

struct Driver {
    shared: Arc<Shared>,
    origin: Option<String>,
    http: reqwest::Client,
    sockets: HashMap<ConnId, Socket>,
    inputs_tx: mpsc::UnboundedSender<Input>,
    inputs: mpsc::UnboundedReceiver<Input>,
}

impl Driver {
    fn new(shared: Arc<Shared>, origin: Option<String>) -> Driver {
        let (inputs_tx, inputs) = mpsc::unbounded_channel();
        Driver {
            shared,
            origin,
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("an HTTP client"),
            sockets: HashMap::new(),
            inputs_tx,
            inputs,
        }
    }

    async fn run(mut self) {
        loop {
            let (actions, timeout) = {
                let mut session = self.shared.session.lock().expect("session lock");
                let actions: Vec<Action> = std::iter::from_fn(|| session.poll_action()).collect();
                (actions, session.poll_timeout())
            };
            for action in actions {
                self.carry_out(action);
            }
            let sleep = timeout.map_or(Duration::from_secs(3600), |at| {
                Duration::from_millis(at.since(now()))
            });
            tokio::select! {
                input = self.inputs.recv() => {
                    let Some(input) = input else { return };
                    self.shared.session.lock().expect("session lock").handle(now(), input);
                }
                () = tokio::time::sleep(sleep) => {
                    self.shared.session.lock().expect("session lock").handle_timeout(now());
                }
                () = self.shared.wake.notified() => {}
            }
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Connect { conn, url, .. } => self.connect(conn, url),
            Action::Disconnect { conn } => {
                if let Some(socket) = self.sockets.remove(&conn) {
                    socket.task.abort();
                }
            }
            Action::Send { conn, frame } => {
                let sent = self
                    .sockets
                    .get(&conn)
                    .is_some_and(|s| s.tx.send(frame.to_json()).is_ok());
                if !sent {
                    let _ = self.inputs_tx.send(Input::Closed { conn });
                }
            }
            Action::Probe { deployment, url } => {
                let (http, tx) = (self.http.clone(), self.inputs_tx.clone());
                tokio::spawn(async move {
                    let health = get_json::<Health>(&http, &url).await;
                    let _ = tx.send(Input::Probe { deployment, health });
                });
            }
            Action::AskModerator { url } => {
                let (http, tx) = (self.http.clone(), self.inputs_tx.clone());
                tokio::spawn(async move {
                    let answer = get_json::<ActiveDeployment>(&http, &url).await;
                    let _ = tx.send(Input::Moderator { answer });
                });
            }
            Action::Persist => self.shared.persisted.store(true, SeqCst),
            Action::Event(event) => self.note(event),
        }
    }

    fn note(&self, event: SessionEvent) {
        let mut seen = self.shared.seen.lock().expect("seen lock");
        match event {
            SessionEvent::Connection(status) => {
                seen.links.push((now(), status.state, status.deployment));
            }
            SessionEvent::Acked { id, .. } => seen.acks.push((now(), id)),
            SessionEvent::Error { code, message } => {
                seen.errors.push(format!("{code:?}: {message}"));
            }
            _ => {}
        }
    }

    fn connect(&mut self, conn: ConnId, url: String) {
        let (tx, mut outgoing) = mpsc::unbounded_channel::<String>();
        let inputs = self.inputs_tx.clone();
        let origin = self.origin.clone();
        let task = tokio::spawn(async move {
            let socket = async {
                let mut request = url.into_client_request().ok()?;
                if let Some(origin) = origin {
                    request.headers_mut().insert("Origin", origin.parse().ok()?);
                }
                tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio_tungstenite::connect_async_with_config(request, None, true),
                )
                .await
                .ok()?
                .ok()
            }
            .await;
            let Some((socket, _)) = socket else {
                let _ = inputs.send(Input::Closed { conn });
                return;
            };
            let _ = inputs.send(Input::Opened { conn });
            let (mut sink, mut stream) = socket.split();
            loop {
                tokio::select! {
                    text = outgoing.recv() => {
                        let Some(text) = text else { break };
                        if sink.send(WsMessage::text(text)).await.is_err() {
                            break;
                        }
                    }
                    message = stream.next() => match message {
                        Some(Ok(WsMessage::Text(text))) => {
                            if let Ok(frame) = ServerFrame::parse(&text) {
                                let _ = inputs.send(Input::Frame { conn, frame });
                            }
                        }
                        Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    }
                }
            }
            let _ = inputs.send(Input::Closed { conn });
        });
        self.sockets.insert(conn, Socket { tx, task });
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Option<T> {
    let response = http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}
