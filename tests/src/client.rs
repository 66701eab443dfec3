//! A protocol client for tests: real WebSockets (tokio-tungstenite) and real
//! HTTP (reqwest), speaking the frames of docs/PROTOCOL.md.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use twinline_core::protocol::{
    ChatResume, ChatSync, ClientFrame, LoginRequest, LoginResponse, PROTOCOL_VERSION, ServerFrame,
    VisitorTokenRequest, VisitorTokenResponse,
};
use twinline_core::{
    Author, ChatId, Lamport, Message, MessageId, Millis, OfflineId, OfflineNote, Role, Ulid,
};

/// How long a test waits for an expected frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A client WebSocket as tokio-tungstenite makes it.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One WebSocket connection.
pub struct WsClient {
    socket: Socket,
}

/// The two halves of a connection, for pipelined load.
pub type Halves = (
    futures_util::stream::SplitSink<Socket, WsMessage>,
    futures_util::stream::SplitStream<Socket>,
);

/// Why a connection attempt failed (status for refused upgrades).
#[derive(Debug)]
pub struct ConnectError {
    /// HTTP status of a refused upgrade, if it got that far.
    pub status: Option<u16>,
    /// The error text.
    pub message: String,
}

impl WsClient {
    /// Connects, optionally sending an Origin header like a browser.
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<WsClient, ConnectError> {
        let mut request = url.into_client_request().map_err(|error| ConnectError {
            status: None,
            message: error.to_string(),
        })?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().expect("an origin header value"));
        }
        // Small buffers: benchmarks hold thousands of these (tungstenite's
        // default 128 KiB read buffer is zeroed on every read).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(8 * 1024);
        match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
            Ok((socket, _)) => Ok(WsClient { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(ConnectError {
                status: Some(response.status().as_u16()),
                message: format!("HTTP {}", response.status()),
            }),
            Err(error) => Err(ConnectError {
                status: None,
                message: error.to_string(),
            }),
        }
    }

    /// Connects from a given local address (another loopback address is
    /// another client to the relay's per-address limits).
    pub async fn connect_from(
        url: &str,
        origin: Option<&str>,
        local: std::net::IpAddr,
    ) -> Result<WsClient, ConnectError> {
        let failed = |error: &dyn std::fmt::Display| ConnectError {
            status: None,
            message: error.to_string(),
        };
        let mut request = url.into_client_request().map_err(|e| failed(&e))?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().expect("an origin header value"));
        }
        let host = request.uri().host().unwrap_or("127.0.0.1").to_string();
        let port = request.uri().port_u16().unwrap_or(80);
        let address: std::net::SocketAddr =
            format!("{host}:{port}").parse().map_err(|e| failed(&e))?;
        let socket = if local.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| failed(&e))?;
        socket
            .bind(std::net::SocketAddr::new(local, 0))
            .map_err(|e| failed(&e))?;
        let tcp = socket.connect(address).await.map_err(|e| failed(&e))?;
        match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await {
            Ok((socket, _)) => Ok(WsClient { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(ConnectError {
                status: Some(response.status().as_u16()),
                message: format!("HTTP {}", response.status()),
            }),
            Err(error) => Err(failed(&error)),
        }
    }

    /// Sends a raw WebSocket message (binary, ping, a hand-made frame).
    pub async fn send_raw(&mut self, message: WsMessage) -> Result<(), String> {
        self.socket.send(message).await.map_err(|e| e.to_string())
    }

    /// Reads until the relay's close frame and returns its code; `None` if
    /// the connection ended without one. Frames before it are skipped.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let item = tokio::time::timeout(FRAME_TIMEOUT * 3, self.socket.next())
                .await
                .expect("timed out waiting for the close");
            match item {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The socket itself (the benchmarks' [`crate::bench::wire::Conn`]).
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    /// Splits into a sink and a stream of raw messages (benchmarks).
    pub fn split(self) -> Halves {
        self.socket.split()
    }

    /// Sends a frame.
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&frame.to_json()).await;
    }

    /// Sends frames back to back in one write, as a client with a full
    /// outbox does (a console replaying after a failover).
    pub async fn send_burst(&mut self, frames: &[ClientFrame]) {
        for frame in frames {
            self.socket
                .feed(WsMessage::Text(frame.to_json().into()))
                .await
                .expect("queueing a frame");
        }
        self.socket.flush().await.expect("sending frames");
    }

    /// Sends raw text (for malformed-frame tests).
    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(WsMessage::Text(text.into()))
            .await
            .expect("sending a frame");
    }

    /// The next protocol frame, or None if the connection closed. Panics
    /// after [`FRAME_TIMEOUT`].
    pub async fn next(&mut self) -> Option<ServerFrame> {
        loop {
            let item = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
                .await
                .expect("timed out waiting for a frame");
            match item {
                Some(Ok(WsMessage::Text(text))) => {
                    return Some(
                        ServerFrame::parse(text.as_str())
                            .unwrap_or_else(|error| panic!("bad frame {text}: {error}")),
                    );
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next frame; panics if the connection closed.
    pub async fn recv(&mut self) -> ServerFrame {
        self.next().await.expect("the connection closed")
    }

    /// Skips frames until one matches.
    pub async fn recv_until(&mut self, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        loop {
            let frame = self.recv().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// Sends `hello` and returns the welcome's chats, each with every
    /// message the relay sent for it: a catch-up larger than one frame
    /// continues after the welcome as `message` frames, so this pings right
    /// after the hello and reads up to the pong (a relay answers a
    /// connection's frames in order).
    pub async fn hello_with_catch_up(&mut self, hello: &ClientFrame) -> Vec<ChatSync> {
        const NONCE: u64 = 0x7e57;
        self.send(hello).await;
        self.send(&ClientFrame::Ping { nonce: NONCE }).await;
        let ServerFrame::Welcome { mut chats, .. } = self.recv().await else {
            panic!("expected welcome")
        };
        loop {
            match self.recv().await {
                ServerFrame::Pong { nonce: NONCE } => return chats,
                ServerFrame::Message { msg } => {
                    if let Some(sync) = chats.iter_mut().find(|c| c.chat == msg.chat) {
                        sync.missing.push(msg);
                    }
                }
                _ => {}
            }
        }
    }

    /// What a relay holds of a visitor's chat: the catch-up a fresh hello
    /// with `token` and nothing held gets.
    pub async fn stored_for(ws_url: &str, token: &str) -> Vec<Message> {
        let mut ws = WsClient::connect(ws_url, Some(crate::SITE_ORIGIN))
            .await
            .expect("connecting");
        let mut chats = ws
            .hello_with_catch_up(&ClientFrame::Hello {
                v: PROTOCOL_VERSION,
                role: Role::Visitor,
                site: crate::SITE.into(),
                token: token.into(),
                resume: vec![],
            })
            .await;
        chats.pop().map(|chat| chat.missing).unwrap_or_default()
    }

    /// Skips frames until the relay closes the connection; panics if it
    /// stays open past [`FRAME_TIMEOUT`].
    pub async fn expect_closed(&mut self) {
        while self.next().await.is_some() {}
    }

    /// Pings and returns every frame that came before the pong: what the
    /// relay sent in answer to everything this connection sent so far
    /// (a relay answers a connection's frames in order).
    pub async fn frames_until_pong(&mut self, nonce: u64) -> Vec<ServerFrame> {
        self.send(&ClientFrame::Ping { nonce }).await;
        let mut frames = Vec::new();
        loop {
            match self.recv().await {
                ServerFrame::Pong { nonce: n } if n == nonce => return frames,
                frame => frames.push(frame),
            }
        }
    }
}

/// `POST /v1/visitor/token`.
pub async fn visitor_token(
    base: &str,
    site: &str,
    token: Option<String>,
    origin: Option<&str>,
) -> Result<VisitorTokenResponse, u16> {
    visitor_token_with(&reqwest::Client::new(), base, site, token, origin).await
}

/// `POST /v1/visitor/token` with a given HTTP client (reuses connections).
pub async fn visitor_token_with(
    http: &reqwest::Client,
    base: &str,
    site: &str,
    token: Option<String>,
    origin: Option<&str>,
) -> Result<VisitorTokenResponse, u16> {
    let mut request = http
        .post(format!("{base}/v1/visitor/token"))
        .json(&VisitorTokenRequest {
            site: site.into(),
            token,
        });
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    let response = request.send().await.map_err(|_| 0u16)?;
    if !response.status().is_success() {
        return Err(response.status().as_u16());
    }
    response.json().await.map_err(|_| 1u16)
}

/// `POST /v1/operator/login`.
pub async fn login(base: &str, username: &str, password: &str) -> Result<LoginResponse, u16> {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/operator/login"))
        .json(&LoginRequest {
            username: username.into(),
            password: password.into(),
        })
        .send()
        .await
        .map_err(|_| 0u16)?;
    if !response.status().is_success() {
        return Err(response.status().as_u16());
    }
    response.json().await.map_err(|_| 1u16)
}

/// `GET /metrics` with the admin token: the exposition text.
pub async fn metrics(base: &str) -> String {
    reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(crate::ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics answer")
        .error_for_status()
        .expect("metrics with the admin token")
        .text()
        .await
        .expect("metrics text")
}

/// A visitor: its token and a connection.
pub struct Visitor {
    /// The token response (visitor id, chat id).
    pub token: VisitorTokenResponse,
    /// The connection.
    pub ws: WsClient,
    /// Messages it sent, for checks.
    pub sent: Vec<Message>,
    /// How many operators its `welcome` said were online for its site (a
    /// count known by then comes there, not in a later `presence`).
    pub operators_online: u32,
}

impl Visitor {
    /// Gets a token from `base` and connects to `ws_url` with hello.
    pub async fn join(base: &str, ws_url: &str) -> Visitor {
        Visitor::join_with(&reqwest::Client::new(), base, ws_url).await
    }

    /// [`Visitor::join`] with a given HTTP client.
    pub async fn join_with(http: &reqwest::Client, base: &str, ws_url: &str) -> Visitor {
        let token = visitor_token_with(http, base, crate::SITE, None, Some(crate::SITE_ORIGIN))
            .await
            .expect("a visitor token");
        Visitor::resume(token, ws_url, &[]).await
    }

    /// Connects with an existing token, saying which ids it holds; returns
    /// after `welcome`.
    pub async fn resume(token: VisitorTokenResponse, ws_url: &str, have: &[MessageId]) -> Visitor {
        let ws = WsClient::connect(ws_url, Some(crate::SITE_ORIGIN))
            .await
            .expect("connecting");
        Visitor::hello_on(ws, token, have).await
    }

    /// [`Visitor::join`] from another local address (another client to
    /// the relay's per-address limits).
    pub async fn join_from(base: &str, ws_url: &str, local: std::net::IpAddr) -> Visitor {
        let http = reqwest::Client::builder()
            .local_address(local)
            .timeout(FRAME_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let token = visitor_token_with(&http, base, crate::SITE, None, Some(crate::SITE_ORIGIN))
            .await
            .expect("a visitor token");
        let ws = WsClient::connect_from(ws_url, Some(crate::SITE_ORIGIN), local)
            .await
            .expect("connecting");
        Visitor::hello_on(ws, token, &[]).await
    }

    /// Says hello on an open connection; returns after `welcome`.
    pub async fn hello_on(
        mut ws: WsClient,
        token: VisitorTokenResponse,
        have: &[MessageId],
    ) -> Visitor {
        ws.send(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Visitor,
            site: crate::SITE.into(),
            token: token.token.clone(),
            resume: vec![ChatResume {
                chat: token.chat,
                have: have.to_vec(),
            }],
        })
        .await;
        let welcome = ws.recv().await;
        let ServerFrame::Welcome {
            operators_online, ..
        } = welcome
        else {
            panic!("expected welcome, got {welcome:?}");
        };
        Visitor {
            token,
            ws,
            sent: Vec::new(),
            operators_online,
        }
    }

    /// What a fresh connection with this visitor's token and an empty
    /// `resume` gets: the chat as the relay stores it, every message.
    pub async fn stored(&self, ws_url: &str) -> Vec<ChatSync> {
        WsClient::connect(ws_url, Some(crate::SITE_ORIGIN))
            .await
            .expect("connecting")
            .hello_with_catch_up(&ClientFrame::Hello {
                v: PROTOCOL_VERSION,
                role: Role::Visitor,
                site: crate::SITE.into(),
                token: self.token.token.clone(),
                resume: vec![],
            })
            .await
    }

    /// Leaves an offline note and waits for its ack.
    pub async fn leave_note(&mut self, note: &OfflineNote) {
        self.ws
            .send(&ClientFrame::Offline { note: note.clone() })
            .await;
        let id = note.id;
        self.ws
            .recv_until(|f| matches!(f, ServerFrame::OfflineAck { id: acked } if *acked == id))
            .await;
    }

    /// The visitor's author.
    pub fn author(&self) -> Author {
        Author {
            role: Role::Visitor,
            id: self.token.visitor.to_string(),
            name: String::new(),
        }
    }

    /// Makes a message (not sent).
    pub fn message(&self, text: &str, lamport: u64) -> Message {
        make_message(self.author(), self.token.chat, text, lamport)
    }

    /// Sends a message and waits for its ack.
    pub async fn say(&mut self, text: &str) -> Message {
        let msg = self.message(text, self.sent.len() as u64 + 1);
        self.ws.send(&ClientFrame::Send { msg: msg.clone() }).await;
        let id = msg.id;
        self.ws
            .recv_until(|f| matches!(f, ServerFrame::Ack { id: acked } if *acked == id))
            .await;
        self.sent.push(msg.clone());
        msg
    }
}

/// An operator connection after welcome.
pub struct Operator {
    /// The login.
    pub login: LoginResponse,
    /// The connection.
    pub ws: WsClient,
}

impl Operator {
    /// Logs in at `base` and connects to `ws_url`; returns after `welcome`.
    pub async fn join(base: &str, ws_url: &str, username: &str, password: &str) -> Operator {
        let login = login(base, username, password).await.expect("login");
        Operator::resume(login, ws_url, Vec::new()).await
    }

    /// Connects with an existing login.
    pub async fn resume(login: LoginResponse, ws_url: &str, resume: Vec<ChatResume>) -> Operator {
        let mut ws = WsClient::connect(ws_url, None).await.expect("connecting");
        ws.send(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Operator,
            site: crate::SITE.into(),
            token: login.token.clone(),
            resume,
        })
        .await;
        let welcome = ws.recv().await;
        assert!(
            matches!(welcome, ServerFrame::Welcome { .. }),
            "expected welcome, got {welcome:?}"
        );
        Operator { login, ws }
    }

    /// Accepts `chat` and returns the chat the relay sends back (its status
    /// and the messages this operator lacks).
    pub async fn accept(&mut self, chat: ChatId) -> ChatSync {
        self.ws.send(&ClientFrame::Accept { chat }).await;
        let ServerFrame::Chat { sync } = self
            .ws
            .recv_until(|f| matches!(f, ServerFrame::Chat { .. }))
            .await
        else {
            unreachable!("recv_until returned another frame")
        };
        sync
    }

    /// The operator's author.
    pub fn author(&self) -> Author {
        Author {
            role: Role::Operator,
            id: self.login.username.clone(),
            name: self.login.name.clone(),
        }
    }
}

/// An offline note for `site` (its time is the relay's to set).
pub fn offline_note(id: u128, site: &str, text: &str) -> OfflineNote {
    OfflineNote {
        id: OfflineId(Ulid(id)),
        site: site.into(),
        name: "N".into(),
        email: "n@example.org".into(),
        text: text.into(),
        at: Millis(1),
    }
}

/// A message without its time: relays date every message they receive
/// (the client's `at` is replaced), so tests compare everything else.
pub fn untimed(mut msg: Message) -> Message {
    msg.at = Millis(0);
    msg
}

/// [`untimed`] for every message.
pub fn untimed_all(msgs: impl IntoIterator<Item = Message>) -> Vec<Message> {
    msgs.into_iter().map(untimed).collect()
}

/// A frame with the times of the messages it carries taken out (see
/// [`untimed`]).
pub fn untimed_frame(frame: ServerFrame) -> ServerFrame {
    match frame {
        ServerFrame::Message { msg } => ServerFrame::Message { msg: untimed(msg) },
        ServerFrame::Chat { mut sync } => {
            sync.missing = untimed_all(sync.missing);
            ServerFrame::Chat { sync }
        }
        other => other,
    }
}

/// A message with a fresh random id.
pub fn make_message(author: Author, chat: ChatId, text: &str, lamport: u64) -> Message {
    let now = Millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    );
    Message {
        lamport: Lamport(lamport),
        author,
        id: MessageId(Ulid::new(now, random_u128())),
        chat,
        text: text.into(),
        at: now,
        file: None,
    }
}

/// 128 random bits from the OS-seeded std hasher (no extra dependency).
pub fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut value = 0u128;
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        value = (value << 64) | u128::from(hasher.finish());
    }
    value
}
