//! Which tab holds the connection: a lease in localStorage.
//!
//! Every tab of the site runs the same widget, but only one may hold the
//! WebSocket and the core session; the others mirror it. The leader writes
//! `"<tab id> <expires ms>"` under one localStorage key and renews it every
//! tick. A tab that finds the lease expired (or missing) claims it, and leads
//! only if, one tick later, the lease still names it: two tabs claiming at
//! once both write, the later write wins, and the earlier tab sees a foreign
//! holder on its next tick and stays a follower. A leader that finds another
//! tab's valid lease (it was frozen in the background for longer than the
//! lease) steps down the same way.
//!
//! This module is the decision only, with time passed in; `tabs::Tabs` does
//! the storage and the timers.

/// The stored lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Tab id of the holder.
    pub holder: String,
    /// Expiry, ms since the epoch.
    pub until: u64,
}

impl Lease {
    /// Reads the stored form; `None` for anything malformed.
    pub fn parse(text: &str) -> Option<Lease> {
        let (holder, until) = text.split_once(' ')?;
        if holder.is_empty() {
            return None;
        }
        Some(Lease {
            holder: holder.to_string(),
            until: until.parse().ok()?,
        })
    }

    /// The stored form.
    pub fn to_text(&self) -> String {
        format!("{} {}", self.holder, self.until)
    }
}

/// Where this tab stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Another tab leads (or nobody has been seen yet).
    Follower,
    /// Wrote a claim; leads if it is still there next tick.
    Claiming,
    /// Holds the connection.
    Leader,
}

/// The election state of one tab.
#[derive(Clone, Debug)]
pub struct Election {
    me: String,
    ttl: u64,
    standing: Standing,
}

impl Election {
    /// A tab that follows until its first tick.
    pub fn new(me: impl Into<String>, ttl: u64) -> Election {
        Election {
            me: me.into(),
            ttl,
            standing: Standing::Follower,
        }
    }

    /// This tab's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Where this tab stands.
    pub fn standing(&self) -> Standing {
        self.standing
    }

    /// True if this tab leads.
    pub fn leads(&self) -> bool {
        self.standing == Standing::Leader
    }

    /// One tick at `now` with the lease as stored; returns the lease to
    /// write, if any.
    pub fn tick(&mut self, now: u64, stored: Option<Lease>) -> Option<Lease> {
        let foreign_valid = stored
            .as_ref()
            .is_some_and(|lease| lease.holder != self.me && lease.until > now);
        if foreign_valid {
            self.standing = Standing::Follower;
            return None;
        }
        let ours = stored.as_ref().is_some_and(|lease| lease.holder == self.me);
        self.standing = match self.standing {
            Standing::Follower => Standing::Claiming,
            Standing::Claiming if ours => Standing::Leader,
            Standing::Claiming => Standing::Claiming,
            Standing::Leader => Standing::Leader,
        };
        Some(Lease {
            holder: self.me.clone(),
            until: now + self.ttl,
        })
    }

    /// Gives the lease up (the tab is closing); returns true if this tab
    /// held it, so the caller removes the stored lease.
    pub fn resign(&mut self) -> bool {
        let held = self.standing != Standing::Follower;
        self.standing = Standing::Follower;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tabs sharing one stored lease, ticking in the given order.
    struct Shared {
        stored: Option<Lease>,
    }

    impl Shared {
        fn tick(&mut self, tab: &mut Election, now: u64) {
            if let Some(lease) = tab.tick(now, self.stored.clone()) {
                self.stored = Some(lease);
            }
        }
    }

    #[test]
    fn lease_text_round_trips_and_rejects_garbage() {
        let lease = Lease {
            holder: "t1".into(),
            until: 42,
        };
        assert_eq!(Lease::parse(&lease.to_text()), Some(lease));
        assert_eq!(Lease::parse("t1"), None);
        assert_eq!(Lease::parse("t1 soon"), None);
        assert_eq!(Lease::parse(" 5"), None);
    }

    #[test]
    fn a_lone_tab_leads_after_confirming_its_claim() {
        let mut shared = Shared { stored: None };
        let mut tab = Election::new("a", 3_000);
        shared.tick(&mut tab, 0);
        assert_eq!(tab.standing(), Standing::Claiming);
        shared.tick(&mut tab, 1_000);
        assert!(tab.leads());
        shared.tick(&mut tab, 2_000);
        assert!(tab.leads());
        assert_eq!(shared.stored.as_ref().unwrap().until, 5_000);
    }

    #[test]
    fn two_tabs_claiming_at_once_end_with_one_leader() {
        let mut shared = Shared { stored: None };
        let mut a = Election::new("a", 3_000);
        let mut b = Election::new("b", 3_000);
        // Both see no lease and claim; b writes last.
        let stored = shared.stored.clone();
        let claim_a = a.tick(0, stored.clone());
        let claim_b = b.tick(0, stored);
        shared.stored = claim_a;
        shared.stored = claim_b;
        shared.tick(&mut a, 1_000);
        shared.tick(&mut b, 1_000);
        assert_eq!(a.standing(), Standing::Follower);
        assert!(b.leads());
        for now in (2_000..20_000).step_by(1_000) {
            shared.tick(&mut a, now);
            shared.tick(&mut b, now);
            assert!(!a.leads() && b.leads());
        }
    }

    #[test]
    fn a_follower_takes_over_when_the_leader_stops_renewing() {
        let mut shared = Shared { stored: None };
        let mut a = Election::new("a", 3_000);
        let mut b = Election::new("b", 3_000);
        shared.tick(&mut a, 0);
        shared.tick(&mut a, 1_000);
        assert!(a.leads());
        shared.tick(&mut b, 1_500);
        assert_eq!(b.standing(), Standing::Follower);
        // a's tab dies at 1 000: its lease runs until 4 000.
        shared.tick(&mut b, 3_999);
        assert_eq!(b.standing(), Standing::Follower);
        shared.tick(&mut b, 4_000);
        shared.tick(&mut b, 5_000);
        assert!(b.leads());
    }

    #[test]
    fn a_frozen_leader_steps_down_when_another_tab_took_over() {
        let mut shared = Shared { stored: None };
        let mut a = Election::new("a", 3_000);
        let mut b = Election::new("b", 3_000);
        shared.tick(&mut a, 0);
        shared.tick(&mut a, 1_000);
        // a is frozen from 1 000 to 10 000; b takes over.
        shared.tick(&mut b, 5_000);
        shared.tick(&mut b, 6_000);
        assert!(b.leads());
        shared.tick(&mut a, 6_500);
        assert!(!a.leads());
    }

    #[test]
    fn resigning_frees_the_lease_only_for_the_holder() {
        let mut shared = Shared { stored: None };
        let mut a = Election::new("a", 3_000);
        shared.tick(&mut a, 0);
        shared.tick(&mut a, 1_000);
        assert!(a.resign());
        assert!(!a.leads());
        let mut b = Election::new("b", 3_000);
        assert!(!b.resign());
    }
}
