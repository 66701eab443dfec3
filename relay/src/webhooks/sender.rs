//! The sender: the I/O shell over [`super::events`] and
//! [`super::schedule`]. It follows this deployment's change feed, queues a
//! delivery per event and subscription, and sends what
//! [`super::schedule::decide`] says, one task per attempt.
//!
//! Its position in the feed is a checkpoint named [`CHECKPOINT`], moved in
//! the transaction that stores the deliveries it covers (or, with nothing
//! to queue, at most every [`CHECKPOINT_EVERY`]): after a crash it reads a
//! little of the feed again, and the deliveries it queues again merge with
//! the stored ones (a queued copy has the zero stamp, below every claim).

use super::events::{Event, events_of};
use super::schedule::{self, Attempt, Decision, Holdings};
use super::signing;
use super::target::{GuardedResolver, check_literal};
use crate::state::Shared;
use crate::store::reads;
use crate::store::records::{Change, Record};
use crate::store::webhooks::{Delivery, DeliveryState, Subscription};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;
use twinline_core::{ChatId, Millis};

/// The sender's feed checkpoint (the `checkpoints` table's peer column).
pub const CHECKPOINT: &str = "webhooks";

/// How often the checkpoint moves when the feed had nothing to queue.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// Feed changes read at a time.
const PAGE: usize = 500;

/// Pending deliveries looked at per round.
const PENDING: usize = 200;

/// Attempts in flight at once.
pub const MAX_IN_FLIGHT: usize = 32;

/// The most of an error answer's body kept in the delivery log; nothing
/// past it is read.
pub const BODY_CAP: usize = 512;

/// The longest pause between two rounds (a commit wakes it sooner).
const ROUND: Duration = Duration::from_millis(500);

/// The shortest pause between two rounds.
const MIN_ROUND: Duration = Duration::from_millis(100);

/// Runs forever (aborted at shutdown).
pub async fn run(state: Shared) {
    let settings = state.config.webhooks;
    let client = match client(settings.allow_private_targets) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "no HTTP client: webhooks are not sent");
            return;
        }
    };
    let mut sender = Sender {
        state: state.clone(),
        client,
        holdings: Holdings::default(),
        in_flight: Arc::new(Mutex::new(BTreeSet::new())),
        position: None,
        saved: Instant::now(),
        started_at: crate::clock::now(),
        started: false,
    };
    let mut head = state.store.head();
    loop {
        let behind = match sender.queue_events().await {
            Ok(behind) => behind,
            Err(error) => {
                tracing::warn!(%error, "webhooks: reading the feed failed; trying again");
                false
            }
        };
        if sender.started() {
            if let Err(error) = sender.send_due().await {
                tracing::warn!(%error, "webhooks: reading pending deliveries failed");
            }
        }
        // At most a round per MIN_ROUND however busy the store, so the
        // sender's reads stay a small share of a busy relay's work; at
        // once again while the feed has more to read.
        tokio::time::sleep(MIN_ROUND).await;
        if !behind {
            let _ = tokio::time::timeout(ROUND, head.changed()).await;
        }
    }
}

/// The deliveries' HTTP client: http and https (rustls, with the Mozilla
/// roots built in, so no system store is read), through the
/// [`GuardedResolver`], no redirects, no proxy from the environment, the
/// attempt's timeouts.
pub fn client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_millis(super::CONNECT_TIMEOUT_MS))
        .timeout(Duration::from_millis(schedule::ATTEMPT_TIMEOUT_MS))
        .user_agent(concat!("Twinline-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

struct Sender {
    state: Shared,
    client: reqwest::Client,
    holdings: Holdings,
    in_flight: Arc<Mutex<BTreeSet<String>>>,
    /// Where the feed has been read to (`None` until the checkpoint is).
    position: Option<u64>,
    saved: Instant,
    started_at: Millis,
    /// [`schedule::may_start`] said yes (it stays yes).
    started: bool,
}

impl Sender {
    /// Whether it may send yet (see [`schedule::may_start`]).
    fn started(&mut self) -> bool {
        if !self.started {
            let now = crate::clock::now();
            let caught_up = self
                .state
                .replication
                .lag(now)
                .is_none_or(|lag| lag.connected && lag.changes == 0);
            let timing = self.state.config.webhooks.timing();
            self.started = schedule::may_start(self.started_at, now, caught_up, &timing);
            if self.started {
                tracing::info!(caught_up, "webhooks: sending");
            }
        }
        self.started
    }

    /// Reads the feed past the position and queues a delivery for every
    /// event a live subscription wants; whether the feed has more.
    async fn queue_events(&mut self) -> Result<bool, crate::store::StoreError> {
        let store = &self.state.store;
        let after = match self.position {
            Some(position) => position,
            None => store.read(|c| reads::checkpoint(c, CHECKPOINT)).await?,
        };
        self.position = Some(after);
        let page = store
            .read(move |c| reads::changes_since(c, after, PAGE, ""))
            .await?;
        if page.next <= after {
            return Ok(false);
        }
        let subscriptions: Vec<Subscription> = store
            .read(|c| reads::webhooks(c, None))
            .await?
            .into_iter()
            .filter(|s| s.enabled && !s.removed)
            .collect();
        let mut deliveries = if subscriptions.is_empty() {
            Vec::new()
        } else {
            let sites = self.sites_of_messages(&page.changes).await?;
            queued(&page.changes, &sites, &subscriptions)
        };
        // Transcript emails ride the same deliveries (crate::mail).
        deliveries.extend(crate::mail::queued(&page.changes));
        let due = !deliveries.is_empty() || self.saved.elapsed() >= CHECKPOINT_EVERY;
        if due {
            let records = deliveries
                .into_iter()
                .map(|(delivery, origin)| (Record::Delivery(delivery), origin))
                .collect();
            store
                .apply_batch(records, Some((CHECKPOINT.to_string(), page.next)))
                .await?;
            self.saved = Instant::now();
        }
        self.position = Some(page.next);
        Ok(page.next < page.head)
    }

    /// The site of each chat a message of `changes` went to, where its
    /// header is stored.
    async fn sites_of_messages(
        &self,
        changes: &[Change],
    ) -> Result<BTreeMap<ChatId, String>, crate::store::StoreError> {
        let chats: BTreeSet<ChatId> = changes
            .iter()
            .filter_map(|c| match &c.record {
                Record::Message(m) => Some(m.chat),
                _ => None,
            })
            .collect();
        if chats.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.state
            .store
            .read(move |conn| {
                let mut sites = BTreeMap::new();
                for chat in &chats {
                    if let Some(header) = reads::chat_in(conn, *chat)? {
                        sites.insert(*chat, header.site);
                    }
                }
                Ok(sites)
            })
            .await
    }

    /// Starts an attempt for every pending delivery that is due here.
    async fn send_due(&mut self) -> Result<(), crate::store::StoreError> {
        let store = &self.state.store;
        let pending = store
            .read(|c| reads::pending_deliveries(c, PENDING))
            .await?;
        if pending.is_empty() {
            self.holdings.retain(&BTreeSet::new());
            return Ok(());
        }
        let subscriptions: BTreeMap<String, Subscription> = store
            .read(|c| reads::webhooks(c, None))
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let keys: BTreeSet<String> = pending.iter().map(delivery_key).collect();
        self.holdings.retain(&keys);
        let me = self.state.config.name.clone();
        let timing = self.state.config.webhooks.timing();
        let now = crate::clock::now();
        let sends_mail = self.state.config.mail.is_some();
        for delivery in pending {
            let key = delivery_key(&delivery);
            let since = self.holdings.observe(&key, delivery.stamp, now);
            let mail = delivery.subscription == crate::mail::SUBSCRIPTION;
            // A deployment without [mail] never claims an email: the one
            // that took the request sends it.
            if mail && !sends_mail {
                continue;
            }
            if schedule::decide(&delivery, &me, now, since, &timing) != Decision::Send {
                continue;
            }
            let subscription = subscriptions.get(&delivery.subscription);
            if subscription.is_some_and(|s| !s.enabled && !s.removed) {
                continue;
            }
            let target = if mail {
                Target::Mail
            } else {
                Target::Webhook(subscription.filter(|s| !s.removed).cloned())
            };
            {
                let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                if in_flight.len() >= MAX_IN_FLIGHT || !in_flight.insert(key.clone()) {
                    continue;
                }
            }
            let attempt = Attempting {
                state: self.state.clone(),
                client: self.client.clone(),
                target,
                in_flight: self.in_flight.clone(),
                key: key.clone(),
            };
            let span = tracing::info_span!(
                "webhook",
                event = %delivery.event,
                subscription = %delivery.subscription,
                attempt = delivery.attempts + 1
            );
            tokio::spawn(attempt.run(delivery).instrument(span));
        }
        Ok(())
    }
}

fn delivery_key(delivery: &Delivery) -> String {
    Delivery::key_of(&delivery.subscription, &delivery.event)
}

/// The deliveries `changes` hold for `subscriptions`, each with the origin
/// of its record (the owner): pure, so the queueing rule is tested
/// without a store.
pub fn queued(
    changes: &[Change],
    sites: &BTreeMap<ChatId, String>,
    subscriptions: &[Subscription],
) -> Vec<(Delivery, String)> {
    let mut out = Vec::new();
    for change in changes {
        let site = match &change.record {
            Record::Message(m) => sites.get(&m.chat).map(String::as_str),
            _ => None,
        };
        for event in events_of(&change.record, site) {
            for subscription in subscriptions {
                if subscription.site == event.site
                    && subscription.wants(event.kind)
                    && event.at >= subscription.created
                {
                    out.push((
                        new_delivery(subscription, &event, &change.origin),
                        change.origin.clone(),
                    ));
                }
            }
        }
    }
    out
}

/// A delivery just queued: pending, owned by `owner`, due now, with the
/// zero stamp (any claim is above it).
pub fn new_delivery(subscription: &Subscription, event: &Event, owner: &str) -> Delivery {
    Delivery {
        about: event.about,
        ..Delivery::queued(
            &subscription.id,
            &event.id,
            &event.site,
            event.kind,
            event.payload.clone(),
            event.at,
            owner,
        )
    }
}

/// Where an attempt goes.
enum Target {
    /// A webhook's subscription (`None`: deleted).
    Webhook(Option<Subscription>),
    /// A transcript's email, over SMTP ([`crate::mail::send`]).
    Mail,
}

/// One attempt, on a task of its own.
struct Attempting {
    state: Shared,
    client: reqwest::Client,
    target: Target,
    in_flight: Arc<Mutex<BTreeSet<String>>>,
    key: String,
}

impl Attempting {
    async fn run(self, delivery: Delivery) {
        self.attempt(delivery).await;
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }

    async fn attempt(&self, delivery: Delivery) {
        let state = &self.state;
        let me = &state.config.name;
        let subscription = match &self.target {
            Target::Webhook(Some(subscription)) => Some(subscription),
            Target::Mail => None,
            Target::Webhook(None) => {
                // Deleted: nothing more to send.
                let ended = Delivery {
                    state: DeliveryState::Failed,
                    last_error: "the subscription was deleted".into(),
                    stamp: state.stamp_over(delivery.stamp),
                    ..delivery
                };
                let _ = state.store.apply(Record::Delivery(ended), me).await;
                return;
            }
        };
        let now = crate::clock::now();
        let claimed = schedule::claim(&delivery, me, now, state.stamp_over(delivery.stamp));
        match state
            .store
            .apply(Record::Delivery(claimed.clone()), me)
            .await
        {
            Ok(applied) if applied.changed => {}
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "webhooks: the claim was not stored; not sent");
                return;
            }
        }
        let outcome = match subscription {
            Some(subscription) => self.send(subscription, &claimed).await,
            None => crate::mail::send::attempt(state, &claimed).await,
        };
        match &outcome {
            Attempt::Delivered(status) => tracing::info!(status, "delivered"),
            Attempt::Failed(status, error) => {
                tracing::warn!(?status, %error, "attempt failed")
            }
            Attempt::Refused(status, error) => {
                tracing::warn!(?status, %error, "attempt refused for good")
            }
        }
        let timing = state.config.webhooks.timing();
        let next = schedule::after(
            &claimed,
            outcome,
            crate::clock::now(),
            state.stamp_over(claimed.stamp),
            &timing,
            rand::random::<f64>(),
        );
        match state.store.apply(Record::Delivery(next), me).await {
            Ok(applied) => {
                if let Some(refusal) = applied.refused {
                    tracing::error!(%refusal, "webhooks: the store refused the outcome (sent again after the lease)");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "webhooks: the outcome was not stored (sent again after the lease)");
            }
        }
    }

    async fn send(&self, subscription: &Subscription, delivery: &Delivery) -> Attempt {
        let allow_private = self.state.config.webhooks.allow_private_targets;
        let url = match super::target::check_url(&subscription.url, allow_private) {
            Ok(url) => url,
            Err(error) => return Attempt::Failed(None, error.to_string()),
        };
        if let Err(error) = check_literal(&url, allow_private) {
            return Attempt::Failed(None, error.to_string());
        }
        let Some(key) = signing::key_of(&subscription.secret) else {
            return Attempt::Failed(None, "the subscription's secret is malformed".into());
        };
        let timestamp = crate::clock::now().0 / 1000;
        let signature = signing::signature(&key, &delivery.event, timestamp, &delivery.payload);
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Attempt::Delivered(response.status().as_u16())
            }
            Ok(mut response) => {
                let status = response.status().as_u16();
                let mut body = Vec::new();
                while body.len() < BODY_CAP {
                    match response.chunk().await {
                        Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                body.truncate(BODY_CAP);
                let text = String::from_utf8_lossy(&body);
                Attempt::Failed(Some(status), format!("HTTP {status}: {}", text.trim()))
            }
            Err(error) => Attempt::Failed(None, error_chain(&error)),
        }
    }
}

/// What went wrong, for the delivery log (at most
/// [`schedule::ERROR_CHARS`]): what failed (connect, timeout, the request)
/// and the innermost cause, which says why ("Connection refused", or an
/// inner address refused), not reqwest's wrappers around it.
fn error_chain(error: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = error;
    while let Some(cause) = root.source() {
        root = cause;
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connect"
    } else {
        "request"
    };
    format!("{what}: {root}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::ChatRecord;
    use crate::store::webhooks::EventType;
    use twinline_core::{Author, Hlc, Lamport, Message, MessageId, Role, Ulid};

    fn subscription(site: &str, events: Vec<EventType>, created: u64) -> Subscription {
        Subscription {
            id: format!("wh_{site}"),
            site: site.into(),
            url: "http://127.0.0.1:9/".into(),
            events,
            enabled: true,
            secret: signing::new_secret(),
            created: Millis(created),
            stamp: Hlc::default(),
            removed: false,
        }
    }

    fn change(origin: &str, record: Record) -> Change {
        Change {
            seq: 1,
            origin: origin.into(),
            at: Millis(0),
            record,
        }
    }

    /// An https target is connected to (refused here: nothing listens),
    /// not turned away for its scheme; a name resolving inward is refused
    /// before any connection.
    #[tokio::test]
    async fn https_targets_are_reached_and_inner_names_are_not() {
        let allowed = client(true).unwrap();
        let error = allowed
            .post("https://127.0.0.1:1/")
            .send()
            .await
            .unwrap_err();
        let text = error_chain(&error);
        assert!(text.contains("Connection refused"), "{text}");
        let guarded = client(false).unwrap();
        let error = guarded
            .post("https://localhost:1/")
            .send()
            .await
            .unwrap_err();
        let text = error_chain(&error);
        assert!(text.contains("allow_private_targets"), "{text}");
    }

    #[test]
    fn each_event_goes_to_the_live_subscriptions_of_its_site_that_want_it_owned_by_its_origin() {
        let chat = ChatId(Ulid(1_000u128 << 80));
        let message = Message {
            lamport: Lamport(1),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            id: MessageId(Ulid(5)),
            chat,
            text: "hi".into(),
            at: Millis(2_000),
            file: None,
        };
        let header = ChatRecord {
            site: "demo".into(),
            ..ChatRecord::empty(chat, Millis(1))
        };
        let changes = vec![
            change("primary", Record::Chat(header)),
            change("redundant", Record::Message(message)),
        ];
        let sites = BTreeMap::from([(chat, "demo".to_string())]);
        let subs = vec![
            subscription("demo", vec![EventType::MessageCreated], 0),
            subscription(
                "demo",
                vec![EventType::ChatStarted, EventType::MessageCreated],
                1_500,
            ),
            subscription("other", vec![EventType::MessageCreated], 0),
        ];
        let mut subs = subs;
        subs[1].id = "wh_later".into();
        let out = queued(&changes, &sites, &subs);
        let got: Vec<(&str, EventType, &str)> = out
            .iter()
            .map(|(d, origin)| (d.subscription.as_str(), d.kind, origin.as_str()))
            .collect();
        // chat.started (at 1,000) is older than wh_later (1,500): not sent.
        assert_eq!(
            got,
            vec![
                ("wh_demo", EventType::MessageCreated, "redundant"),
                ("wh_later", EventType::MessageCreated, "redundant"),
            ]
        );
        assert!(out.iter().all(|(d, o)| d.owner == *o
            && d.state == DeliveryState::Pending
            && d.stamp == Hlc::default()));
        // Disabled or deleted: nothing queued.
        subs[0].enabled = false;
        subs[1].removed = true;
        assert!(queued(&changes, &sites, &subs).is_empty());
    }
}
