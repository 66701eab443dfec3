//! The moderator's shared state: the decision machine behind a mutex, and
//! the serialised answers every reader gets.
//!
//! `/v1/active` is asked by every client every few seconds, so it must cost
//! next to nothing: after each input the answers are serialised once, under
//! the same lock as the change (so a slower writer never overwrites a newer
//! answer with an older one), and handlers only clone the bytes. A std
//! mutex is right here: nothing is awaited while it is held.

use crate::clock;
use crate::throttle::AdminThrottle;
use axum::body::Bytes;
use std::sync::{Mutex, MutexGuard, RwLock};
use tokio::sync::mpsc;
use twinline_core::Millis;
use twinline_core::moderation::{Action, Moderation};

/// The answers as they go on the wire.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    /// `GET /v1/active`.
    pub active: Bytes,
    /// `GET /v1/status`.
    pub status: Bytes,
}

/// See the module docs.
#[derive(Debug)]
pub struct ModeratorState {
    machine: Mutex<Moderation>,
    answers: RwLock<Answers>,
    actions: mpsc::UnboundedSender<Action>,
    /// Required by the admin API.
    pub admin_token: String,
    /// Wrong admin tokens per client address.
    pub admin_throttle: AdminThrottle,
}

impl ModeratorState {
    /// Wraps a machine; its actions go to `actions`.
    pub fn new(
        machine: Moderation,
        actions: mpsc::UnboundedSender<Action>,
        admin_token: String,
    ) -> ModeratorState {
        let state = ModeratorState {
            machine: Mutex::new(machine),
            answers: RwLock::new(Answers::default()),
            actions,
            admin_token,
            admin_throttle: AdminThrottle::default(),
        };
        state.update(|_, _| ());
        state
    }

    fn lock(&self) -> MutexGuard<'_, Moderation> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds one input at the current time, sends out the actions it
    /// produced, logs a change of the active deployment and refreshes the
    /// answers.
    pub fn update<R>(&self, input: impl FnOnce(&mut Moderation, Millis) -> R) -> R {
        let now = clock::now();
        let mut machine = self.lock();
        let epoch = machine.active().epoch;
        let result = input(&mut machine, now);
        while let Some(action) = machine.poll_action() {
            tracing::info!(?action, "relay call queued");
            // The executor only stops when the process does.
            let _ = self.actions.send(action);
        }
        let active = machine.active();
        if active.epoch != epoch
            && let Some(failover) = machine.history().last()
        {
            tracing::warn!(
                from = %failover.from,
                to = %failover.to,
                epoch = failover.epoch,
                reason = %failover.reason,
                manual = failover.manual,
                "active deployment changed"
            );
        }
        let answers = Answers {
            active: json(&active),
            status: json(&machine.status(now)),
        };
        *self.answers.write().unwrap_or_else(|p| p.into_inner()) = answers;
        result
    }

    /// The latest answers.
    pub fn answers(&self) -> Answers {
        self.answers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn json<T: serde::Serialize>(value: &T) -> Bytes {
    // Plain data structs always serialise.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
