//! The visitor app's decisions, as plain data with the time passed in.
//!
//! A page's widget is one tab among the site's tabs (see `tabs`): the tab
//! that leads runs the engine (the core session with its sockets); the
//! others render the view it broadcasts and forward what the visitor does
//! there. [`AppState`] decides everything between the parts: what a tab
//! does when it starts or stops leading (resume the saved chat, or get a
//! token first, retrying with backoff), where a message written here goes
//! (into this tab's `unsent` key first, so it never lives only in memory),
//! which unsent messages of other tabs the leader takes into the session or
//! shows meanwhile, the visitor details and offline notes held until an
//! engine runs, the unread count and its preview beside the launcher, the
//! pre-chat form, whether the panel
//! says the chat is reconnecting (only once the link has been down for
//! [`TROUBLE_SHOWN_AFTER_MS`]: a failover or a short outage changes nothing
//! a visitor sees), and what the page's handlers hear.
//!
//! It touches nothing: the shell (`shell.rs`) feeds it [`Event`]s, the
//! commands ([`AppState::send`]) and, once per burst, what it read
//! ([`AppState::refresh`]), and carries out the [`Effect`]s it queues, in
//! order, the way the core session's actions are carried out. Two effects
//! are questions ([`Effect::ReadSaved`], [`Effect::CollectUnsent`]): the
//! shell answers them with an event at once. Typing is the core's
//! (`twinline_core::session`): this only routes keystrokes to the leader.

use crate::config::Prechat;
use crate::i18n::Texts;
use crate::storage::Keys;
use crate::tabs::message::TabMessage;
use crate::view::{ChatPhase, Link, Shown, UiEvent, Unsent, View, ViewMessage};
use std::collections::VecDeque;
use twinline_core::model::{TextError, check_text};
use twinline_core::protocol::VisitorTokenResponse;
use twinline_core::rating::check_comment;
use twinline_core::transcript_email::check_address;
use twinline_core::{ChatId, MessageId, Millis, Score};

/// Longest unread preview beside the launcher, in characters (longer
/// messages end in "…").
pub const PREVIEW_CHARS: usize = 80;

/// The first wait before asking for a token again, ms.
pub const TOKEN_RETRY_FIRST_MS: u32 = 1_000;
/// The longest wait between token attempts, ms.
pub const TOKEN_RETRY_MAX_MS: u32 = 30_000;
/// How long the chat may be without a link before the panel says so (the
/// banner), ms. Shorter interruptions (a failover, a deployment restarting,
/// a network blip) show nothing but messages sending until their ack,
/// while the page's `Twinline.status()` always tells the truth.
pub const TROUBLE_SHOWN_AFTER_MS: u64 = 5_000;

/// Something that happened, for [`AppState::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The page's handlers are in place: report the first status.
    Ready,
    /// The tab election ticked; whether this tab leads now.
    Tick {
        /// This tab holds the lease.
        leads: bool,
    },
    /// The answer to [`Effect::ReadSaved`].
    Saved {
        /// The stored visitor token, if it is still good.
        token: Option<VisitorTokenResponse>,
        /// The chat of the stored session snapshot.
        chat: Option<ChatId>,
    },
    /// The answer to [`Effect::CollectUnsent`]: every tab's `unsent` key
    /// with its messages.
    Unsent(Vec<(String, Vec<Unsent>)>),
    /// A token fetch ([`Effect::FetchToken`]) ended.
    Token(Result<VisitorTokenResponse, String>),
    /// Another tab said something.
    Tab(TabMessage),
    /// The visitor did something in the panel.
    Ui(UiEvent),
    /// The page called `Twinline.open()` or `close()`.
    SetOpen(bool),
    /// The page called `Twinline.setVisitor`.
    SetVisitor {
        /// Name.
        name: String,
        /// Email.
        email: String,
    },
    /// The page goes away (or the widget is unmounted).
    Leave,
}

/// A call on the engine (the leader's core session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineCall {
    /// Send a message under the id the writing tab chose.
    Send {
        /// Message id.
        id: String,
        /// Text (checked).
        text: String,
    },
    /// A keystroke in the composer (of any tab).
    Typing,
    /// Visitor details for the operator.
    Visitor {
        /// Name.
        name: String,
        /// Email.
        email: String,
        /// The page the visitor is on.
        page: String,
    },
    /// An offline note.
    Note(Note),
    /// The visitor's rating of the closed chat.
    Rate {
        /// Good or bad.
        score: Score,
        /// The comment (checked).
        comment: String,
    },
    /// The chat is on screen (this tab's panel or a follower's): a read
    /// receipt for what the session holds, if that is new.
    Seen,
    /// The transcript by email at this (checked) address.
    EmailTranscript(String),
}

/// An offline note as the visitor wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// The note.
    pub text: String,
}

/// What the page's `Twinline.on` handlers hear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageEvent {
    /// A message appeared (`"message"`).
    Message(ViewMessage),
    /// The connection changed (`"status"`).
    Status {
        /// Deployment name.
        deployment: Option<String>,
        /// Link state.
        link: Link,
    },
    /// The panel opened (`"open"`).
    Open,
    /// The panel closed (`"close"`).
    Close,
    /// The operator has seen the visitor's messages up to this one
    /// (`"read"`).
    Read(String),
}

/// Something for the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Tell the other tabs.
    Post(TabMessage),
    /// Write this tab's unsent messages to its key (remove it when empty).
    SaveUnsent(Vec<Unsent>),
    /// Write a localStorage key.
    Store {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove a localStorage key.
    Remove(String),
    /// Read the stored token and the saved session's chat; answer with
    /// [`Event::Saved`].
    ReadSaved,
    /// Read every tab's `unsent` key; answer with [`Event::Unsent`].
    CollectUnsent,
    /// Ask the deployments for a visitor token after waiting this long;
    /// answer with [`Event::Token`].
    FetchToken {
        /// Wait first, ms.
        after_ms: u32,
    },
    /// Start the engine for this token's chat (resuming its snapshot).
    StartEngine(VisitorTokenResponse),
    /// Stop the engine; its snapshot stays for whoever resumes.
    StopEngine,
    /// A call on the running engine.
    Engine(EngineCall),
    /// Forget the chat: the saved session and the token.
    ForgetChat,
    /// Tick the tab election now (the leader said goodbye).
    TickNow,
    /// Give up the lease and tell the other tabs.
    Resign,
    /// Open or close the panel.
    Open(bool),
    /// Show a refusal under the composer, or clear it.
    Refuse(Option<&'static str>),
    /// Call the page's handlers (after the state is released).
    Emit(PageEvent),
    /// Log a warning for the site owner.
    Warn(String),
}

/// Where this tab stands and what it shows. See the module docs.
pub struct AppState {
    keys: Keys,
    /// This tab's id.
    me: String,
    texts: &'static Texts,
    prechat_mode: Prechat,
    prechat_done: bool,
    /// Randomness for message ids.
    random: Box<dyn FnMut() -> u128>,
    /// The page's address (for the operator).
    page: Box<dyn Fn() -> String>,
    leads: bool,
    /// An engine runs (this tab leads and has a token).
    engine: bool,
    /// A token fetch is under way or waiting to retry.
    fetching: bool,
    retry_ms: u32,
    /// The leader's view (our own engine's, or the last one received).
    view: View,
    /// What is on screen: `view` plus messages not yet in it.
    shown: View,
    unread: usize,
    /// The preview beside the closed panel's launcher, if any.
    preview: Option<String>,
    prechat: bool,
    /// Since when (the monotonic clock of [`AppState::refresh`]) the link
    /// shown has not been connected.
    trouble_since: Option<Millis>,
    /// The panel says the chat is reconnecting.
    banner: bool,
    /// Messages written in this tab that the view does not hold yet.
    unsent: Vec<Unsent>,
    /// Other tabs' unsent messages, shown while this tab leads without an
    /// engine (no token yet).
    adopted: Vec<Unsent>,
    got_view: bool,
    /// The view last sent to the other tabs (leader).
    broadcasted: Option<View>,
    pending_visitor: Option<(String, String)>,
    pending_notes: Vec<Note>,
    open: bool,
    /// The page is visible (not a background tab, not minimised).
    visible: bool,
    /// The newest incoming message this tab has asked a receipt for.
    seen_told: Option<String>,
    effects: VecDeque<Effect>,
}

/// What a tab starts from.
pub struct Setup {
    /// The site's storage keys.
    pub keys: Keys,
    /// This tab's id.
    pub me: String,
    /// The words.
    pub texts: &'static Texts,
    /// The site's pre-chat setting.
    pub prechat: Prechat,
    /// The pre-chat form was done in this browser.
    pub prechat_done: bool,
    /// This tab's `unsent` key as stored (a reload).
    pub unsent: Vec<Unsent>,
    /// Randomness for message ids (`crypto.getRandomValues`).
    pub random: Box<dyn FnMut() -> u128>,
    /// The page's address.
    pub page: Box<dyn Fn() -> String>,
}

impl AppState {
    /// A tab that follows until the election says otherwise.
    pub fn new(setup: Setup) -> AppState {
        AppState {
            keys: setup.keys,
            me: setup.me,
            texts: setup.texts,
            prechat_mode: setup.prechat,
            prechat_done: setup.prechat_done,
            random: setup.random,
            page: setup.page,
            leads: false,
            engine: false,
            fetching: false,
            retry_ms: TOKEN_RETRY_FIRST_MS,
            view: View::default(),
            shown: View::default(),
            unread: 0,
            preview: None,
            prechat: false,
            trouble_since: None,
            banner: false,
            unsent: setup.unsent,
            adopted: Vec::new(),
            got_view: false,
            broadcasted: None,
            pending_visitor: None,
            pending_notes: Vec::new(),
            open: false,
            visible: true,
            seen_told: None,
            effects: VecDeque::new(),
        }
    }

    /// The next thing to do, if any; drain it after every call.
    #[must_use = "an effect the state asked for is lost unless it is carried out"]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// What the panel shows (after [`AppState::refresh`]).
    pub fn shown(&self) -> Shown<'_> {
        Shown {
            view: &self.shown,
            unread: self.unread,
            preview: self.preview.as_deref(),
            prechat: self.prechat,
            banner: self.banner,
        }
    }

    /// When [`AppState::refresh`] should run again for the screen to be
    /// right (the banner's moment), on the monotonic clock; `None`: not
    /// before something happens.
    pub fn wake_at(&self) -> Option<Millis> {
        match self.trouble_since {
            Some(since) if !self.banner => Some(since.plus(TROUBLE_SHOWN_AFTER_MS)),
            _ => None,
        }
    }

    /// True while this tab holds the connection.
    pub fn leads(&self) -> bool {
        self.leads
    }

    /// Whether the page is visible (`document.hidden` is false): a read
    /// receipt is given only for a panel open on a visible page. Read by
    /// the shell before every [`AppState::refresh`].
    pub fn set_visible(&mut self, visible: bool) {
        self.visible = visible;
    }

    /// True while the panel is open.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Feeds one event; `now` is the wall clock (message ids).
    pub fn handle(&mut self, now: Millis, event: Event) {
        match event {
            Event::Ready => self.emit_status(),
            Event::Tick { leads } => self.tick(leads),
            Event::Saved { token, chat } => self.resume(token, chat),
            Event::Unsent(keys) => self.take_unsent(keys),
            Event::Token(result) => self.on_token(result),
            Event::Tab(message) => self.on_tab(message),
            Event::Ui(event) => self.on_ui(now, event),
            Event::SetOpen(open) => self.set_open(open),
            Event::SetVisitor { name, email } => {
                self.set_visitor(name.trim().to_string(), email.trim().to_string())
            }
            Event::Leave => self.leave(),
        }
    }

    fn push(&mut self, effect: Effect) {
        self.effects.push_back(effect);
    }

    fn post(&mut self, message: impl FnOnce(String) -> TabMessage) {
        let message = message(self.me.clone());
        self.push(Effect::Post(message));
    }

    // ---- tabs -------------------------------------------------------------

    fn tick(&mut self, leads: bool) {
        if leads != self.leads {
            self.leads = leads;
            if leads {
                self.lead();
            } else {
                self.follow();
            }
        }
        if self.leads {
            self.push(Effect::CollectUnsent);
        } else {
            if !self.got_view {
                self.post(|from| TabMessage::Hello { from });
            }
            if !self.unsent.is_empty() {
                // Repairs the key if the leader swept it while we wrote.
                self.save_unsent();
                self.post(|from| TabMessage::Unsent { from });
            }
        }
    }

    /// Became the leader: resume the saved session, or get a token first.
    fn lead(&mut self) {
        self.got_view = true;
        self.broadcasted = None;
        // This tab's engine starts with no receipt given.
        self.seen_told = None;
        self.push(Effect::ReadSaved);
    }

    fn resume(&mut self, token: Option<VisitorTokenResponse>, chat: Option<ChatId>) {
        if !self.leads || self.engine {
            return;
        }
        match token {
            Some(token) if chat == Some(token.chat) => self.start_engine(token),
            _ => self.fetch_token(),
        }
    }

    fn follow(&mut self) {
        self.stop_engine();
        self.got_view = false;
        self.post(|from| TabMessage::Hello { from });
    }

    fn leave(&mut self) {
        self.stop_engine();
        self.leads = false;
        self.push(Effect::Resign);
    }

    fn stop_engine(&mut self) {
        if std::mem::take(&mut self.engine) {
            self.push(Effect::StopEngine);
        }
    }

    fn on_tab(&mut self, message: TabMessage) {
        let leads = self.leads;
        match message {
            TabMessage::View { view, .. } if !leads => {
                self.got_view = true;
                self.view = view;
            }
            TabMessage::Hello { .. } if leads => self.broadcast(),
            TabMessage::Unsent { .. } if leads => self.push(Effect::CollectUnsent),
            TabMessage::Typing { .. } if leads => self.typing(),
            TabMessage::Visitor {
                name, email, page, ..
            } if leads => self.apply_visitor(name, email, page),
            TabMessage::Offline {
                name, email, text, ..
            } if leads => self.leave_note(Note { name, email, text }),
            TabMessage::NewChat { .. } if leads => self.new_chat(),
            TabMessage::Rate { score, comment, .. } if leads => {
                if let Some(score) = Score::parse(&score) {
                    self.apply_rating(score, comment);
                }
            }
            TabMessage::EmailTranscript { email, .. } if leads => {
                if let Err(error) = self.email_transcript(&email) {
                    self.push(Effect::Warn(error));
                }
            }
            TabMessage::Seen { .. } if leads && self.engine => {
                self.push(Effect::Engine(EngineCall::Seen));
            }
            TabMessage::Bye { .. } if !leads => self.push(Effect::TickNow),
            _ => {}
        }
    }

    fn broadcast(&mut self) {
        let view = self.view.clone();
        self.post(|from| TabMessage::View { from, view });
    }

    // ---- the engine -------------------------------------------------------

    fn fetch_token(&mut self) {
        if self.fetching {
            return;
        }
        self.fetching = true;
        self.retry_ms = TOKEN_RETRY_FIRST_MS;
        self.push(Effect::FetchToken { after_ms: 0 });
    }

    fn on_token(&mut self, result: Result<VisitorTokenResponse, String>) {
        if !self.fetching {
            return;
        }
        if !self.leads || self.engine {
            self.fetching = false;
            return;
        }
        match result {
            Ok(token) => {
                self.fetching = false;
                self.start_engine(token);
            }
            Err(error) => {
                self.push(Effect::Warn(format!(
                    "no token from either deployment: {error}"
                )));
                self.view.link = Link::Offline;
                let after_ms = self.retry_ms;
                self.retry_ms = (self.retry_ms * 2).min(TOKEN_RETRY_MAX_MS);
                self.push(Effect::FetchToken { after_ms });
            }
        }
    }

    fn start_engine(&mut self, token: VisitorTokenResponse) {
        self.push(Effect::StartEngine(token));
        self.engine = true;
        if let Some((name, email)) = self.pending_visitor.take() {
            let page = (self.page)();
            self.apply_visitor(name, email, page);
        }
        for note in std::mem::take(&mut self.pending_notes) {
            self.leave_note(note);
        }
        self.push(Effect::CollectUnsent);
    }

    /// Leader: every tab's unsent messages go into the session (which
    /// stores them), and the other tabs' keys go; without an engine yet,
    /// the other tabs' messages are shown as they are.
    fn take_unsent(&mut self, keys: Vec<(String, Vec<Unsent>)>) {
        if !self.leads {
            return;
        }
        let own = self.keys.unsent(&self.me);
        // This tab's own from memory: its key may be missing (a full
        // storage refused it) and must not lose the messages.
        let others: Vec<(String, Vec<Unsent>)> =
            keys.into_iter().filter(|(key, _)| *key != own).collect();
        if !self.engine {
            let mut adopted: Vec<Unsent> = others.into_iter().flat_map(|(_, e)| e).collect();
            adopted.retain(|u| !self.unsent.iter().any(|o| o.id == u.id));
            self.adopted = adopted;
            return;
        }
        let own_entries = self.unsent.clone();
        for entry in own_entries.iter().chain(others.iter().flat_map(|(_, e)| e)) {
            if !self.view.has(&entry.id) {
                self.push(Effect::Engine(EngineCall::Send {
                    id: entry.id.clone(),
                    text: entry.text.clone(),
                }));
            }
        }
        // The session holds (and has persisted) them all now.
        for (key, _) in others {
            self.push(Effect::Remove(key));
        }
        self.adopted.clear();
    }

    fn save_unsent(&mut self) {
        self.push(Effect::SaveUnsent(self.unsent.clone()));
    }

    // ---- what the visitor does ---------------------------------------------

    fn on_ui(&mut self, now: Millis, event: UiEvent) {
        match event {
            UiEvent::Open => self.set_open(true),
            UiEvent::Close => self.set_open(false),
            UiEvent::Send(text) => {
                if let Err(error) = self.send(now, &text) {
                    self.push(Effect::Warn(error));
                }
            }
            UiEvent::Typing => self.typing(),
            UiEvent::Prechat { name, email } => {
                self.prechat_done = true;
                self.push(Effect::Store {
                    key: self.keys.prechat(),
                    value: "1".into(),
                });
                if !name.is_empty() || !email.is_empty() {
                    self.set_visitor(name, email);
                }
            }
            UiEvent::Offline { name, email, text } => {
                let note = Note { name, email, text };
                if self.leads {
                    self.leave_note(note);
                } else {
                    self.post(|from| TabMessage::Offline {
                        from,
                        name: note.name,
                        email: note.email,
                        text: note.text,
                    });
                }
            }
            UiEvent::NewChat => {
                if self.leads {
                    self.new_chat();
                } else {
                    self.post(|from| TabMessage::NewChat { from });
                }
            }
            UiEvent::Rate { score, comment } => {
                if let Err(error) = self.rate(score, &comment) {
                    self.push(Effect::Warn(error));
                }
            }
            UiEvent::EmailTranscript(to) => {
                if let Err(error) = self.email_transcript(&to) {
                    self.push(Effect::Warn(error));
                }
            }
        }
    }

    /// Rates the chat (the panel, `Twinline.rate`): the leader's session
    /// keeps it until a relay stores it; a follower hands it to the leader.
    /// Refused while the chat is not closed, or with a comment too long.
    pub fn rate(&mut self, score: Score, comment: &str) -> Result<(), String> {
        if self.view.phase != ChatPhase::Closed {
            return Err("the chat is not closed".into());
        }
        check_comment(comment).map_err(|error| format!("comment: {error}"))?;
        if self.leads {
            self.apply_rating(score, comment.to_string());
        } else {
            let score = score.as_str().to_string();
            let comment = comment.to_string();
            self.post(|from| TabMessage::Rate {
                from,
                score,
                comment,
            });
        }
        Ok(())
    }

    /// Asks for the chat's transcript by email at `to` (the panel,
    /// `Twinline.emailTranscript`): the leader's session keeps the request
    /// until a relay stores it, and the relay sends the email once the chat
    /// is closed; a follower hands it to the leader. Refused while the
    /// relay connected to (or last connected to) sends no email, before
    /// the tab holds a chat, or with an address out of shape.
    pub fn email_transcript(&mut self, to: &str) -> Result<(), String> {
        if !self.view.mail {
            return Err("this deployment sends no email".into());
        }
        let to = to.trim();
        // A fixed text: the error's Display (with its numbers) costs the chat
        // bundle more than it tells.
        check_address(to)
            .map_err(|_| "address: not local@domain of at most 254 bytes".to_string())?;
        if !self.leads {
            let email = to.to_string();
            self.post(|from| TabMessage::EmailTranscript { from, email });
        } else if self.engine {
            self.push(Effect::Engine(EngineCall::EmailTranscript(to.into())));
        } else {
            return Err("no chat yet".into());
        }
        Ok(())
    }

    /// Leader: the rating goes to the session (which keeps it until a
    /// relay stores it). A closed chat has had an engine; a leader still
    /// getting its token drops it with a warning rather than rate a chat
    /// it does not hold yet.
    fn apply_rating(&mut self, score: Score, comment: String) {
        if self.engine {
            self.push(Effect::Engine(EngineCall::Rate { score, comment }));
        } else {
            self.push(Effect::Warn("no chat to rate yet".into()));
        }
    }

    fn set_open(&mut self, open: bool) {
        if self.open != open {
            self.open = open;
            self.push(Effect::Open(open));
            let event = if open {
                PageEvent::Open
            } else {
                PageEvent::Close
            };
            self.push(Effect::Emit(event));
        }
    }

    /// Writes a message (the composer, `Twinline.send`): this tab's
    /// `unsent` key first, then the session (leader) or the leader (here,
    /// a follower). Its id, or why the text was refused.
    pub fn send(&mut self, now: Millis, text: &str) -> Result<String, String> {
        let id = MessageId::new(now, (self.random)());
        self.send_with_id(text, id)
    }

    /// Writes a message under an id made before the chat was here (the
    /// loader's or the launcher's queued `Twinline.send`, which returned
    /// it to the page); its time is the id's. The same id again is the
    /// same message: its id, written once.
    pub fn send_with_id(&mut self, text: &str, id: MessageId) -> Result<String, String> {
        let id_text = id.to_string();
        if self.unsent.iter().any(|u| u.id == id_text) || self.view.has(&id_text) {
            return Ok(id_text);
        }
        if let Err(error) = check_text(text) {
            let refusal = match error {
                TextError::Empty => self.texts.error_empty,
                _ => self.texts.error_too_long,
            };
            self.push(Effect::Refuse(Some(refusal)));
            return Err(error.to_string());
        }
        self.push(Effect::Refuse(None));
        self.unsent.push(Unsent {
            id: id_text.clone(),
            text: text.to_string(),
            at: id.0.millis().0,
        });
        self.save_unsent();
        if self.leads {
            self.push(Effect::CollectUnsent);
        } else {
            self.post(|from| TabMessage::Unsent { from });
        }
        Ok(id_text)
    }

    /// A keystroke, here or in a follower: the leader's session throttles
    /// it and says when the visitor stopped.
    fn typing(&mut self) {
        if !self.leads {
            self.post(|from| TabMessage::Typing { from });
        } else if self.engine {
            self.push(Effect::Engine(EngineCall::Typing));
        }
    }

    fn set_visitor(&mut self, name: String, email: String) {
        let page = (self.page)();
        if self.leads {
            self.apply_visitor(name, email, page);
        } else {
            // Kept here too: until the tab election settles there may be no
            // leader to hear the post, and this tab may become the leader.
            self.pending_visitor = Some((name.clone(), email.clone()));
            self.post(|from| TabMessage::Visitor {
                from,
                name,
                email,
                page,
            });
        }
    }

    fn apply_visitor(&mut self, name: String, email: String, page: String) {
        if self.engine {
            self.push(Effect::Engine(EngineCall::Visitor { name, email, page }));
        } else {
            self.pending_visitor = Some((name, email));
        }
    }

    fn leave_note(&mut self, note: Note) {
        if self.engine {
            self.push(Effect::Engine(EngineCall::Note(note)));
        } else {
            self.pending_notes.push(note);
        }
    }

    /// Leader: the old chat is closed; forget it and start a new one.
    fn new_chat(&mut self) {
        self.stop_engine();
        self.push(Effect::ForgetChat);
        self.push(Effect::Remove(self.keys.prechat()));
        self.prechat_done = false;
        self.view = View::default();
        self.fetch_token();
    }

    // ---- the screen ---------------------------------------------------------

    /// Once per burst of events, with what the shell read: the monotonic
    /// time (for the banner), the engine's view (leader with an engine) and
    /// the site's count of incoming messages seen (shared by all tabs).
    /// Decides what is shown, and queues what the other tabs and the page
    /// must hear.
    pub fn refresh(&mut self, now: Millis, engine: Option<View>, read: usize) {
        if let Some(view) = engine {
            self.view = view;
        }
        if self.leads && self.broadcasted.as_ref() != Some(&self.view) {
            self.broadcast();
            self.broadcasted = Some(self.view.clone());
        }
        let before = self.unsent.len();
        let view = &self.view;
        self.unsent.retain(|u| !view.has(&u.id));
        self.adopted.retain(|u| !view.has(&u.id));
        if self.unsent.len() != before {
            self.save_unsent();
        }
        self.give_receipt();
        let shown = self
            .view
            .with_unsent(self.unsent.iter().chain(self.adopted.iter()));
        let new: Vec<ViewMessage> = shown.new_since(&self.shown).cloned().collect();
        for message in new {
            self.push(Effect::Emit(PageEvent::Message(message)));
        }
        let status_changed =
            (shown.link, &shown.deployment) != (self.shown.link, &self.shown.deployment);

        let incoming = shown.incoming();
        let mut read = read;
        if self.open && read != incoming {
            read = incoming;
            self.push(Effect::Store {
                key: self.keys.read(),
                value: read.to_string(),
            });
        }
        self.unread = incoming.saturating_sub(read);
        self.preview = (!self.open && self.unread > 0)
            .then(|| shown.messages.iter().rev().find(|m| !m.is_own()))
            .flatten()
            .map(|m| preview_of(&m.text));
        self.prechat = self.prechat_mode != Prechat::Off
            && !self.prechat_done
            && shown.messages.is_empty()
            && shown.visitor_name.is_empty()
            && shown.visitor_email.is_empty();
        if shown.link == Link::Connected {
            self.trouble_since = None;
        } else {
            self.trouble_since.get_or_insert(now);
        }
        self.banner = self
            .trouble_since
            .is_some_and(|since| now.since(since) >= TROUBLE_SHOWN_AFTER_MS);
        if shown.seen != self.shown.seen
            && let Some(id) = &shown.seen
        {
            self.push(Effect::Emit(PageEvent::Read(id.clone())));
        }
        self.shown = shown;
        if status_changed {
            self.emit_status();
        }
    }

    /// A read receipt while the panel is open on a visible page and shows
    /// an operator's message no receipt was asked for yet: the leader's
    /// session sends it (and again after a failover, to a relay that
    /// lacks it), a follower asks the leader.
    fn give_receipt(&mut self) {
        let newest = self
            .view
            .messages
            .iter()
            .filter(|m| !m.is_own())
            .map(|m| &m.id)
            .max();
        if !self.open || !self.visible || newest.is_none() || newest <= self.seen_told.as_ref() {
            return;
        }
        if self.leads && !self.engine {
            return;
        }
        self.seen_told = newest.cloned();
        if self.leads {
            self.push(Effect::Engine(EngineCall::Seen));
        } else {
            self.post(|from| TabMessage::Seen { from });
        }
    }

    fn emit_status(&mut self) {
        self.push(Effect::Emit(PageEvent::Status {
            deployment: self.shown.deployment.clone(),
            link: self.shown.link,
        }));
    }
}

/// The start of `text` for the preview: at most [`PREVIEW_CHARS`]
/// characters on one line (each run of white space one space), "…" where
/// it was cut. One pass over the characters: splitting into words and
/// joining them cost the chat bundle half a kilobyte more.
fn preview_of(text: &str) -> String {
    let mut line = String::new();
    let mut count = 0;
    let mut gap = false;
    for c in text.chars() {
        if c.is_whitespace() {
            gap = count > 0;
            continue;
        }
        let next: &[char] = if gap { &[' ', c] } else { &[c] };
        gap = false;
        for &c in next {
            if count == PREVIEW_CHARS {
                line.pop();
                line.push('…');
                return line;
            }
            line.push(c);
            count += 1;
        }
    }
    line
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
