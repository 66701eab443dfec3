//! Who may reach a chat's files: its visitor (a visitor token for that
//! chat) and the operators serving its site (an operator session). Pure
//! decisions over the caller and what the store holds; a request without
//! one of the two tokens, or with one for another chat or site, reaches
//! nothing, and is told the file is not found rather than that it exists.

use crate::authz::Access;
use crate::http::{ApiError, bearer, operator_session};
use crate::state::Shared;
use crate::tokens::Claim;
use axum::http::{HeaderMap, StatusCode};
use twinline_core::ChatId;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A chat's visitor.
    Visitor {
        /// The token's site.
        site: String,
        /// The token's (one) chat.
        chat: ChatId,
    },
    /// An operator, with what its account serves.
    Operator(Access),
}

impl Caller {
    /// Whether the caller may read and add files of `chat` on `site`.
    pub fn reaches(&self, chat: ChatId, site: &str) -> bool {
        match self {
            Caller::Visitor {
                site: own,
                chat: mine,
            } => *mine == chat && own == site,
            Caller::Operator(access) => !site.is_empty() && access.serves(site),
        }
    }
}

/// The caller of a request, from its `Authorization: Bearer` token.
pub async fn caller(state: &Shared, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers);
    match state.signer.verify(token, crate::clock::now()) {
        Ok(Claim::Visitor { site, chat, .. }) => Ok(Caller::Visitor { site, chat }),
        Ok(Claim::Operator { .. }) => Ok(Caller::Operator(Access::of(
            &operator_session(state, token).await?,
        ))),
        Err(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "a visitor token for the chat or an operator session is required: \
             Authorization: Bearer <token>",
        )),
    }
}

/// The refusal for a file the caller may not reach, or that is not here.
pub fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such file in a chat this token reaches",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::OperatorRole;
    use twinline_core::Ulid;

    #[test]
    fn a_visitor_reaches_only_its_chat_and_an_operator_only_its_sites() {
        let mine = ChatId(Ulid(1));
        let visitor = Caller::Visitor {
            site: "demo".into(),
            chat: mine,
        };
        assert!(visitor.reaches(mine, "demo"));
        assert!(!visitor.reaches(ChatId(Ulid(2)), "demo"));
        assert!(!visitor.reaches(mine, "other"));
        let agent = Caller::Operator(Access {
            username: "ada".into(),
            role: OperatorRole::Agent,
            sites: vec!["demo".into()],
        });
        assert!(agent.reaches(ChatId(Ulid(2)), "demo"));
        assert!(!agent.reaches(mine, "other"));
        assert!(!agent.reaches(mine, ""));
        let admin = Caller::Operator(Access {
            username: "root".into(),
            role: OperatorRole::Admin,
            sites: vec![],
        });
        assert!(admin.reaches(mine, "other"));
    }
}
