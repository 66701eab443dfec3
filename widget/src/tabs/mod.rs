//! Several tabs, one connection.
//!
//! A visitor with the site open in three tabs has one chat, not three: one
//! tab (the leader, chosen by [`lease`]) holds the core session and the
//! WebSocket; the others render the [`View`](crate::view::View) it
//! broadcasts and forward what the visitor does there. Messages written in a
//! follower are first written to that tab's own `unsent` key in
//! localStorage, then announced: whichever tab leads, now or after the
//! leader closes, finds them there, so a message is never only in a tab
//! that is about to go away.
//!
//! Messages travel over a `BroadcastChannel`; where there is none (old
//! Safari), over `storage` events of one localStorage key.

pub mod lease;
pub mod message;

#[cfg(target_arch = "wasm32")]
pub use browser::Tabs;

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::lease::{Election, Lease};
    use super::message::TabMessage;
    use crate::js;
    use crate::storage::Store;
    use gloo_events::EventListener;
    use std::rc::Rc;
    use wasm_bindgen::JsCast;
    use web_sys::{BroadcastChannel, MessageEvent, StorageEvent};

    /// How long a lease lasts without renewal, ms.
    pub const LEASE_TTL: u64 = 4_000;

    /// How tabs reach each other.
    enum Bus {
        Channel {
            channel: BroadcastChannel,
            _listener: EventListener,
        },
        Storage {
            _listener: EventListener,
        },
    }

    /// This tab's membership in the site's group of tabs.
    pub struct Tabs {
        election: Election,
        store: Store,
        bus: Bus,
    }

    impl Tabs {
        /// Joins the group under a fresh tab id; `on` receives other tabs'
        /// messages.
        pub fn join(store: Store, on: Rc<dyn Fn(TabMessage)>) -> Tabs {
            let me = format!("{:x}", js::random_u64());
            let name = format!("{}bus", store.keys.prefix());
            let bus = match BroadcastChannel::new(&name) {
                Ok(channel) => {
                    let on = on.clone();
                    let listener = EventListener::new(&channel, "message", move |event| {
                        let data = event.unchecked_ref::<MessageEvent>().data();
                        if let Some(text) = data.as_string() {
                            deliver(&text, &on);
                        }
                    });
                    Bus::Channel {
                        channel,
                        _listener: listener,
                    }
                }
                Err(_) => {
                    let key = store.keys.bus();
                    let window = web_sys::window().expect("a window");
                    let listener = EventListener::new(&window, "storage", move |event| {
                        let event = event.unchecked_ref::<StorageEvent>();
                        if event.key().as_deref() == Some(key.as_str()) {
                            if let Some(text) = event.new_value() {
                                // Strip the nonce that makes repeats fire.
                                let text = text.split_once('\n').map_or(&*text, |(_, m)| m);
                                deliver(text, &on);
                            }
                        }
                    });
                    Bus::Storage {
                        _listener: listener,
                    }
                }
            };
            Tabs {
                election: Election::new(me, LEASE_TTL),
                store,
                bus,
            }
        }

        /// This tab's id.
        pub fn me(&self) -> &str {
            self.election.me()
        }

        /// True if this tab holds the connection.
        pub fn leads(&self) -> bool {
            self.election.leads()
        }

        /// Renews or checks the lease; returns true if leadership changed.
        pub fn tick(&mut self) -> bool {
            let before = self.election.leads();
            let key = self.store.keys.lease();
            let stored = self.store.get(&key).and_then(|t| Lease::parse(&t));
            if let Some(lease) = self.election.tick(js::now().0, stored) {
                self.store.set(&key, &lease.to_text());
            }
            before != self.election.leads()
        }

        /// Gives up the lease (the tab is going away) and tells the others.
        pub fn resign(&mut self) {
            if self.election.resign() {
                let key = self.store.keys.lease();
                let ours = self
                    .store
                    .get(&key)
                    .and_then(|t| Lease::parse(&t))
                    .is_some_and(|l| l.holder == self.election.me());
                if ours {
                    self.store.remove(&key);
                }
                self.post(&TabMessage::Bye {
                    from: self.me().to_string(),
                });
            }
        }

        /// Sends a message to every other tab.
        pub fn post(&self, message: &TabMessage) {
            let Ok(text) = js::to_json(message) else {
                return;
            };
            match &self.bus {
                Bus::Channel { channel, .. } => {
                    let _ = channel.post_message(&text.into());
                }
                Bus::Storage { .. } => {
                    let nonce = js::random_u64();
                    self.store
                        .set(&self.store.keys.bus(), &format!("{nonce:x}\n{text}"));
                }
            }
        }
    }

    impl Drop for Tabs {
        fn drop(&mut self) {
            if let Bus::Channel { channel, .. } = &self.bus {
                channel.close();
            }
        }
    }

    fn deliver(text: &str, on: &Rc<dyn Fn(TabMessage)>) {
        match js::from_json::<TabMessage>(text) {
            Ok(message) => on(message),
            Err(error) => js::warn(&format!("ignored a message from another tab: {error}")),
        }
    }
}
