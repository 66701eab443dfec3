//! What the widget keeps in localStorage, under keys scoped by site.
//!
//! - `token`: the visitor token answer, so a reload continues the same chat.
//! - `session`: the core session's snapshot (transcript, outbox, clocks),
//!   written on every `Action::Persist`, so nothing written is lost with the
//!   tab and a new leader tab resumes where the old one stopped.
//! - `unsent:<tab>`: messages written in that tab that the leader may not
//!   hold yet (each key has one writer, so tabs never overwrite each other).
//! - `lease`: which tab holds the connection (see `tabs::lease`).
//! - `read`: how many incoming messages the visitor has seen (unread badge,
//!   shared by all tabs).
//! - `prechat`: the chat whose pre-chat form is done.
//!
//! When localStorage is unavailable (disabled, private mode quirks, quota)
//! the widget keeps the values in memory: it still works, it only forgets on
//! reload.

/// The storage keys of one site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys for a site id.
    pub fn new(site: &str) -> Keys {
        Keys {
            prefix: format!("twinline:{site}:"),
        }
    }

    /// Every key starts with this.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The visitor token.
    pub fn token(&self) -> String {
        format!("{}token", self.prefix)
    }

    /// The session snapshot.
    pub fn session(&self) -> String {
        format!("{}session", self.prefix)
    }

    /// The leader lease.
    pub fn lease(&self) -> String {
        format!("{}lease", self.prefix)
    }

    /// Incoming messages seen.
    pub fn read(&self) -> String {
        format!("{}read", self.prefix)
    }

    /// Pre-chat form done for a chat.
    pub fn prechat(&self) -> String {
        format!("{}prechat", self.prefix)
    }

    /// Cross-tab messages when BroadcastChannel is missing.
    pub fn bus(&self) -> String {
        format!("{}bus", self.prefix)
    }

    /// One tab's unsent messages.
    pub fn unsent(&self, tab: &str) -> String {
        format!("{}unsent:{tab}", self.prefix)
    }

    /// The common start of every tab's unsent key.
    pub fn unsent_prefix(&self) -> String {
        format!("{}unsent:", self.prefix)
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::Store;

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::Keys;
    use std::cell::RefCell;
    use std::rc::Rc;
    use twinline_core::sorted::SortedMap;
    use web_sys::Storage;

    /// localStorage, or memory when it is unavailable.
    #[derive(Clone)]
    pub struct Store {
        /// The keys of this site.
        pub keys: Keys,
        local: Option<Storage>,
        memory: Rc<RefCell<SortedMap<String, String>>>,
    }

    impl Store {
        /// The store for a site.
        pub fn new(site: &str) -> Store {
            let local = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
            // Some browsers hand out a storage that throws on every write.
            let local = local.filter(|s| {
                let probe = "twinline:probe";
                let ok = s.set_item(probe, "1").is_ok();
                let _ = s.remove_item(probe);
                ok
            });
            Store {
                keys: Keys::new(site),
                local,
                memory: Rc::default(),
            }
        }

        /// True when values survive a reload.
        pub fn durable(&self) -> bool {
            self.local.is_some()
        }

        /// Reads a key.
        pub fn get(&self, key: &str) -> Option<String> {
            match &self.local {
                Some(local) => local.get_item(key).ok().flatten(),
                None => self.memory.borrow().get(key).cloned(),
            }
        }

        /// Writes a key; false if the browser refused (quota).
        pub fn set(&self, key: &str, value: &str) -> bool {
            match &self.local {
                Some(local) => local.set_item(key, value).is_ok(),
                None => {
                    self.memory.borrow_mut().insert(key.into(), value.into());
                    true
                }
            }
        }

        /// Removes a key.
        pub fn remove(&self, key: &str) {
            match &self.local {
                Some(local) => {
                    let _ = local.remove_item(key);
                }
                None => {
                    self.memory.borrow_mut().remove(key);
                }
            }
        }

        /// Every key starting with `prefix`.
        pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
            match &self.local {
                Some(local) => {
                    let count = local.length().unwrap_or(0);
                    (0..count)
                        .filter_map(|i| local.key(i).ok().flatten())
                        .filter(|k| k.starts_with(prefix))
                        .collect()
                }
                None => self
                    .memory
                    .borrow()
                    .keys()
                    .filter(|k| k.starts_with(prefix))
                    .cloned()
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn keys_are_scoped_by_site() {
        let keys = Keys::new("demo");
        assert_eq!(keys.token(), "twinline:demo:token");
        assert_eq!(keys.unsent("t1"), "twinline:demo:unsent:t1");
        assert!(keys.unsent("t1").starts_with(&keys.unsent_prefix()));
        assert_ne!(Keys::new("other").session(), keys.session());
    }
}
