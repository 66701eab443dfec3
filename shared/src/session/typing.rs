//! "Is typing" notices, both ways, with their three timers in one place
//! (the widget, its follower tabs and the console only report keystrokes
//! and render [`Session::typing_in`](super::Session::typing_in)).
//!
//! Outgoing: the user interface reports every keystroke
//! (`Session::typing(now, chat, true)`). The relay hears `typing on` at most
//! once per [`Timing::typing_every`] while keys keep coming, so the notice
//! on the other side is refreshed before it goes stale, and `typing off`
//! after [`Timing::typing_quiet`] without a keystroke, or at once when the
//! user interface says the user stopped (`typing(now, chat, false)`, e.g.
//! the field lost focus). A message sent in the chat ends it without an
//! `off`: receivers drop the notice when the typist's message arrives.
//! Nothing is queued: a notice is stale by the time a link is back, so a
//! lost link (or a new welcome) forgets what was sent.
//!
//! Incoming: who types in each chat, from the relay's `typing` frames,
//! until their `off`, their next message, or [`Timing::typing_stale`]
//! without a refresh (an `off` lost with a link, a tab closed mid-word);
//! then the session raises `SessionEvent::Typing { on: false }` itself, so a
//! user interface needs no clock of its own to fade the notice.

use super::config::Timing;
use crate::id::ChatId;
use crate::model::Author;
use crate::sorted::SortedMap;
use crate::time::Millis;

/// This user's notice in one chat, as last told to the relay.
#[derive(Clone, Copy, Debug)]
struct Told {
    /// When `on` last went out.
    on_at: Millis,
    /// When to send `off` unless another keystroke comes first.
    quiet_at: Millis,
}

/// Both directions of typing notices.
#[derive(Clone, Debug, Default)]
pub(super) struct Typing {
    told: SortedMap<ChatId, Told>,
    heard: SortedMap<ChatId, (Author, Millis)>,
}

/// What a timeout of the typing timers asks for.
#[derive(Debug, Default)]
pub(super) struct Due {
    /// Chats to send `typing off` in (quiet since the last keystroke).
    pub(super) quiet: Vec<ChatId>,
    /// Notices heard that went stale: (chat, who).
    pub(super) stale: Vec<(ChatId, Author)>,
}

impl Typing {
    /// The user typed (`on`) or stopped in `chat`; the frame to send now,
    /// if any. `ready` says whether a link could carry it: without one
    /// nothing is sent or remembered.
    pub(super) fn user(
        &mut self,
        now: Millis,
        chat: ChatId,
        on: bool,
        ready: bool,
        timing: &Timing,
    ) -> Option<bool> {
        if !on {
            return self.told.remove(&chat).map(|_| false).filter(|_| ready);
        }
        if !ready {
            return None;
        }
        let quiet_at = now.plus(timing.typing_quiet);
        match self.told.get_mut(&chat) {
            Some(told) if now.since(told.on_at) < timing.typing_every => {
                told.quiet_at = quiet_at;
                None
            }
            _ => {
                self.told.insert(
                    chat,
                    Told {
                        on_at: now,
                        quiet_at,
                    },
                );
                Some(true)
            }
        }
    }

    /// The user sent a message in `chat`: that ends the notice.
    pub(super) fn message_sent(&mut self, chat: ChatId) {
        self.told.remove(&chat);
    }

    /// The link the notices went out on is gone (or a new one was
    /// welcomed): the next keystroke tells the relay again.
    pub(super) fn forget_told(&mut self) {
        self.told.clear();
    }

    /// A `typing` frame about someone else.
    pub(super) fn heard(&mut self, now: Millis, chat: ChatId, who: Author, on: bool) {
        if on {
            self.heard.insert(chat, (who, now));
        } else if self
            .heard
            .get(&chat)
            .is_some_and(|(typist, _)| same(typist, &who))
        {
            self.heard.remove(&chat);
        }
    }

    /// A message arrived in `chat`: if its author was typing, they are done.
    pub(super) fn message_from(&mut self, chat: ChatId, author: &Author) {
        if self
            .heard
            .get(&chat)
            .is_some_and(|(typist, _)| same(typist, author))
        {
            self.heard.remove(&chat);
        }
    }

    /// Who is typing in `chat`, as last heard.
    pub(super) fn typing_in(&self, chat: ChatId) -> Option<&Author> {
        self.heard.get(&chat).map(|(who, _)| who)
    }

    /// Takes whatever is due at `now`.
    pub(super) fn due(&mut self, now: Millis, timing: &Timing) -> Due {
        let mut due = Due::default();
        self.told.retain(|chat, told| {
            let quiet = now >= told.quiet_at;
            if quiet {
                due.quiet.push(*chat);
            }
            !quiet
        });
        self.heard.retain(|chat, (who, since)| {
            let stale = now >= since.plus(timing.typing_stale);
            if stale {
                due.stale.push((*chat, who.clone()));
            }
            !stale
        });
        due
    }

    /// The earliest time [`Typing::due`] has something to do.
    pub(super) fn deadline(&self, timing: &Timing) -> Option<Millis> {
        let quiet = self.told.values().map(|told| told.quiet_at);
        let stale = self
            .heard
            .values()
            .map(|(_, since)| since.plus(timing.typing_stale));
        quiet.chain(stale).min()
    }
}

fn same(a: &Author, b: &Author) -> bool {
    a.role == b.role && a.id == b.id
}
