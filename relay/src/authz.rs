//! Who may do what on the operator side: pure decisions over an operator's
//! [`Access`] (from its account at hello) and a chat's header as this relay
//! holds it. The WebSocket handlers ask these and only carry the answer out.
//!
//! The rules:
//! - An agent serves the sites its account names; an admin serves every
//!   site. The queue, the inbox, the chats in a welcome and every action
//!   are limited to the sites served.
//! - An operator writes (its own messages, and the replay of others' after
//!   a failover) only in chats assigned to it. Writing in a waiting chat of
//!   a site it serves takes the chat first, as replying to an unassigned
//!   conversation does in most helpdesks: that is also what keeps a
//!   console's replay working when the deployment it moves to never heard
//!   of its accept (the accept is pushed after the messages).
//! - A chat this relay has no header for (its data center failed before
//!   replicating it) may be written in and accepted by the console that
//!   holds it: the write creates the header, assigned to that operator.
//! - Only the current holder, or an admin, transfers a chat, and only to an
//!   operator who serves its site.
//! - Closing: the holder, an admin, or any operator of the site while the
//!   chat still waits (clearing spam from the queue).

use crate::store::records::{Account, ChatRecord, OperatorRole};
use twinline_core::ChatState;

/// What an operator may reach: its name, role and sites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Login name.
    pub username: String,
    /// Agent or admin.
    pub role: OperatorRole,
    /// Sites served (agents).
    pub sites: Vec<String>,
}

impl Access {
    /// An account's access.
    pub fn of(account: &Account) -> Access {
        Access {
            username: account.username.clone(),
            role: account.role,
            sites: account.sites.clone(),
        }
    }

    /// Whether this operator serves `site`.
    pub fn serves(&self, site: &str) -> bool {
        self.role == OperatorRole::Admin || self.sites.iter().any(|s| s == site)
    }

    /// The sites to read the queue and inbox for; `None` for all (admins).
    pub fn site_filter(&self) -> Option<&[String]> {
        match self.role {
            OperatorRole::Admin => None,
            OperatorRole::Agent => Some(&self.sites),
        }
    }

    fn holds(&self, chat: &ChatRecord) -> bool {
        chat.status.operator.as_deref() == Some(self.username.as_str())
    }

    fn unassigned_and_waiting(chat: &ChatRecord) -> bool {
        chat.status.operator.is_none() && chat.status.state == ChatState::Waiting
    }

    /// Whether the chat's site (if the header has one yet) is served.
    fn site_ok(&self, chat: &ChatRecord) -> bool {
        chat.site.is_empty() || self.serves(&chat.site)
    }
}

/// The answer to "may this operator write here?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Yes.
    Allow,
    /// Yes, once the chat is assigned to the writer (a waiting chat, or one
    /// this relay has no header for).
    AssignFirst,
    /// No, and why.
    Refuse(String),
}

/// Whether an operator may see a chat (in its welcome, or handed to it).
pub fn may_see(op: &Access, chat: Option<&ChatRecord>) -> bool {
    let Some(chat) = chat else {
        // Nothing here to see; naming it lets the console replay it.
        return true;
    };
    if chat.site.is_empty() {
        // Messages from the peer ahead of their header: only for the
        // operator they are assigned to, or an admin.
        return op.holds(chat) || op.role == OperatorRole::Admin;
    }
    op.serves(&chat.site)
        && (op.role == OperatorRole::Admin
            || op.holds(chat)
            || Access::unassigned_and_waiting(chat))
}

/// Whether an operator may write in a chat: its own messages and the
/// replay of others' (see the module docs).
pub fn may_write(op: &Access, chat: Option<&ChatRecord>) -> Write {
    let Some(chat) = chat else {
        return Write::AssignFirst;
    };
    if !op.site_ok(chat) {
        return Write::Refuse(format!("you do not serve site {:?}", chat.site));
    }
    if op.holds(chat) {
        return Write::Allow;
    }
    if Access::unassigned_and_waiting(chat) {
        return Write::AssignFirst;
    }
    Write::Refuse(match &chat.status.operator {
        Some(other) => format!("this chat is assigned to {other}"),
        None => "this chat is closed".to_string(),
    })
}

/// Whether an operator may accept a chat.
pub fn may_accept(op: &Access, chat: Option<&ChatRecord>) -> Result<(), String> {
    let Some(chat) = chat else {
        return Ok(());
    };
    if !op.site_ok(chat) {
        return Err(format!("you do not serve site {:?}", chat.site));
    }
    match &chat.status.operator {
        Some(other) if chat.status.state == ChatState::Active && other != &op.username => {
            Err(format!("{other} has already accepted this chat"))
        }
        _ => Ok(()),
    }
}

/// Whether an operator may close a chat.
pub fn may_close(op: &Access, chat: &ChatRecord) -> Result<(), String> {
    if !op.site_ok(chat) {
        return Err(format!("you do not serve site {:?}", chat.site));
    }
    if op.holds(chat) || op.role == OperatorRole::Admin || Access::unassigned_and_waiting(chat) {
        Ok(())
    } else {
        Err("only the operator holding this chat, or an admin, may close it".into())
    }
}

/// Whether an operator may transfer a chat to `target`.
pub fn may_transfer(
    op: &Access,
    chat: &ChatRecord,
    target: Option<&Account>,
) -> Result<(), String> {
    if !op.site_ok(chat) {
        return Err(format!("you do not serve site {:?}", chat.site));
    }
    let holder = op.holds(chat) && chat.status.state == ChatState::Active;
    if !holder && op.role != OperatorRole::Admin {
        return Err("only the operator holding this chat, or an admin, may transfer it".into());
    }
    match target {
        Some(target) if !target.removed && (chat.site.is_empty() || target.serves(&chat.site)) => {
            Ok(())
        }
        Some(target) if !target.removed => Err(format!(
            "{} does not serve site {:?}",
            target.username, chat.site
        )),
        _ => Err("no such operator".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{ChatId, ChatStatus, Hlc, Millis, Ulid, VisitorId, VisitorInfo};

    fn agent(name: &str, sites: &[&str]) -> Access {
        Access {
            username: name.into(),
            role: OperatorRole::Agent,
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn admin() -> Access {
        Access {
            username: "root".into(),
            role: OperatorRole::Admin,
            sites: Vec::new(),
        }
    }

    fn chat(site: &str, state: ChatState, operator: Option<&str>) -> ChatRecord {
        ChatRecord {
            id: ChatId(Ulid(1)),
            site: site.into(),
            visitor: VisitorId(Ulid(2)),
            created: Millis(1),
            status: ChatStatus {
                state,
                operator: operator.map(str::to_string),
                stamp: Hlc::zero(1),
            },
            info: VisitorInfo::default(),
            source: String::new(),
            rating: None,
            transcripts: Vec::new(),
        }
    }

    fn account(name: &str, sites: &[&str]) -> Account {
        Account {
            username: name.into(),
            name: name.into(),
            hash: "x".into(),
            stamp: Hlc::zero(1),
            role: OperatorRole::Agent,
            sites: sites.iter().map(|s| s.to_string()).collect(),
            version: 1,
            removed: false,
        }
    }

    #[test]
    fn an_operator_writes_only_where_it_holds_the_chat() {
        let ada = agent("ada", &["demo"]);
        let held = chat("demo", ChatState::Active, Some("ada"));
        let bobs = chat("demo", ChatState::Active, Some("bob"));
        let waiting = chat("demo", ChatState::Waiting, None);
        let foreign = chat("other", ChatState::Waiting, None);
        let closed_by_ada = chat("demo", ChatState::Closed, Some("ada"));
        let closed_unheld = chat("demo", ChatState::Closed, None);
        assert_eq!(may_write(&ada, Some(&held)), Write::Allow);
        assert_eq!(may_write(&ada, Some(&closed_by_ada)), Write::Allow);
        assert_eq!(may_write(&ada, Some(&waiting)), Write::AssignFirst);
        assert_eq!(may_write(&ada, None), Write::AssignFirst);
        assert!(matches!(may_write(&ada, Some(&bobs)), Write::Refuse(_)));
        assert!(matches!(may_write(&ada, Some(&foreign)), Write::Refuse(_)));
        assert!(matches!(
            may_write(&ada, Some(&closed_unheld)),
            Write::Refuse(_)
        ));
        // Admins take chats like everyone else before writing in them.
        assert!(matches!(may_write(&admin(), Some(&bobs)), Write::Refuse(_)));
    }

    #[test]
    fn an_agent_sees_only_its_sites_and_chats_it_could_hold() {
        let ada = agent("ada", &["demo"]);
        assert!(may_see(&ada, Some(&chat("demo", ChatState::Waiting, None))));
        assert!(may_see(
            &ada,
            Some(&chat("demo", ChatState::Active, Some("ada")))
        ));
        assert!(!may_see(
            &ada,
            Some(&chat("demo", ChatState::Active, Some("bob")))
        ));
        assert!(!may_see(
            &ada,
            Some(&chat("other", ChatState::Waiting, None))
        ));
        assert!(!may_see(&ada, Some(&chat("", ChatState::Waiting, None))));
        assert!(may_see(
            &ada,
            Some(&chat("", ChatState::Active, Some("ada")))
        ));
        assert!(may_see(&ada, None));
        assert!(may_see(
            &admin(),
            Some(&chat("other", ChatState::Active, Some("bob")))
        ));
    }

    #[test]
    fn only_the_holder_or_an_admin_transfers_and_only_to_someone_serving_the_site() {
        let ada = agent("ada", &["demo"]);
        let bob = agent("bob", &["demo"]);
        let held = chat("demo", ChatState::Active, Some("ada"));
        let cy = account("cy", &["demo"]);
        let olga = account("olga", &["other"]);
        assert!(may_transfer(&ada, &held, Some(&cy)).is_ok());
        assert!(may_transfer(&bob, &held, Some(&account("bob", &["demo"]))).is_err());
        assert!(may_transfer(&admin(), &held, Some(&cy)).is_ok());
        assert!(may_transfer(&ada, &held, Some(&olga)).is_err());
        assert!(may_transfer(&ada, &held, None).is_err());
        let gone = Account {
            removed: true,
            ..cy.clone()
        };
        assert!(may_transfer(&ada, &held, Some(&gone)).is_err());
        let waiting = chat("demo", ChatState::Waiting, None);
        assert!(may_transfer(&ada, &waiting, Some(&cy)).is_err());
    }

    #[test]
    fn accepting_and_closing_follow_the_holder() {
        let ada = agent("ada", &["demo"]);
        let bobs = chat("demo", ChatState::Active, Some("bob"));
        let waiting = chat("demo", ChatState::Waiting, None);
        assert!(may_accept(&ada, Some(&waiting)).is_ok());
        assert!(may_accept(&ada, None).is_ok());
        assert!(may_accept(&ada, Some(&bobs)).is_err());
        assert!(may_accept(&ada, Some(&chat("other", ChatState::Waiting, None))).is_err());
        assert!(may_close(&ada, &waiting).is_ok());
        assert!(may_close(&ada, &bobs).is_err());
        assert!(may_close(&admin(), &bobs).is_ok());
    }
}
