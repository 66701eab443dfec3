//! What a connection is: where it came from ([`Peer`]) and what it has
//! proven ([`Identity`]). Plain data, set by `hello` and read by the
//! handlers.

use crate::authz::Access;
use std::net::IpAddr;
use twinline_core::{ChatId, VisitorId};

/// Where the upgrade came from.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The Origin header, if the client sent one.
    pub origin: Option<String>,
    /// Whether that origin is this relay (its own console).
    pub same_origin: bool,
    /// The client's address.
    pub ip: IpAddr,
}

/// A visitor's proven identity.
#[derive(Clone, Debug)]
pub struct VisitorAuth {
    /// Site id.
    pub site: String,
    /// Visitor id.
    pub visitor: VisitorId,
    /// The one chat they may use.
    pub chat: ChatId,
}

/// An operator's proven identity: its token, checked against its account
/// at hello.
#[derive(Clone, Debug)]
pub struct OperatorAuth {
    /// Login name, role and sites, from the account.
    pub access: Access,
    /// Display name.
    pub name: String,
    /// Availability for new chats.
    pub online: bool,
    /// The account version the session was issued at.
    pub version: u64,
}

/// What the connection has proven.
#[derive(Clone, Debug)]
pub enum Identity {
    /// Before `hello`.
    Anonymous,
    /// A visitor.
    Visitor(VisitorAuth),
    /// An operator.
    Operator(OperatorAuth),
}
