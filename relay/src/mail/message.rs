//! The email of one transcript request, as a pure function of what both
//! deployments store (the chat's header and messages, the request), so
//! whichever deployment sends it sends the same message: the same
//! `Message-ID` (made from the request's id), `Date` (the later of the
//! request and the close) and text.
//!
//! The body is text/plain only: chat text is never HTML anywhere, and a
//! plain part is all a mail reader needs to show it as it was written.

use crate::store::records::ChatRecord;
use twinline_core::transcript_email::TranscriptRequest;
use twinline_core::{Message, Millis, Role};

/// One email, before the transport's encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// `<request id.transcript@domain of From>`.
    pub message_id: String,
    /// The later of the request's time and the close's stamp.
    pub date: Millis,
    /// The visitor's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The whole transcript, one line (or more) per message.
    pub text: String,
}

/// The `Message-ID` of `request` under sender `from` (`Name <a@b>` or
/// `a@b`): the same on both deployments, one per request.
pub fn message_id(request: &TranscriptRequest, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim_end_matches('>').trim())
        .filter(|domain| !domain.is_empty())
        .unwrap_or("twinline.invalid");
    format!("<{}.transcript@{domain}>", request.id)
}

/// `HH:MM` (UTC) of a time.
fn clock_time(at: Millis) -> String {
    let minutes = (at.0 / 60_000) % (24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The email for `request` of the chat `header` with its `messages` (in
/// any order: shown in the chat's display order).
pub fn build(
    header: &ChatRecord,
    messages: &[Message],
    request: &TranscriptRequest,
    from: &str,
) -> Email {
    let mut ordered: Vec<&Message> = messages.iter().collect();
    ordered.sort_by(|a, b| (a.lamport, &a.author.id, a.id).cmp(&(b.lamport, &b.author.id, b.id)));
    let date = request.at.max(header.status.stamp.wall);
    let day =
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(date.0));
    let mut text = format!(
        "The transcript of your chat on {} ({day}), times in UTC:\n\n",
        header.site
    );
    for message in ordered {
        let who = match (message.author.role, message.author.name.trim()) {
            (Role::Visitor, _) => "You",
            (_, "") if message.author.role == Role::Operator => "Operator",
            (_, "") => "Twinline",
            (_, name) => name,
        };
        let mut body = message.text.replace("\r\n", "\n").replace('\n', "\n    ");
        if let Some(file) = &message.file {
            // The file itself stays on the deployments (a download needs the
            // chat's token): the email names it.
            let name: String = file.name.chars().filter(|c| !c.is_control()).collect();
            let sep = if body.is_empty() { "" } else { " " };
            body.push_str(&format!("{sep}[file: {name}, {} bytes]", file.size));
        }
        text.push_str(&format!("[{}] {who}: {body}\n", clock_time(message.at)));
    }
    text.push_str("\nYou asked for this transcript at the end of the chat.\n");
    Email {
        message_id: message_id(request, from),
        date,
        to: request.to.clone(),
        subject: format!("Your chat transcript ({})", header.site),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{
        Author, ChatId, ChatState, ChatStatus, Hlc, Lamport, MessageId, TranscriptId, Ulid,
    };

    fn message(lamport: u64, role: Role, name: &str, text: &str) -> Message {
        Message {
            lamport: Lamport(lamport),
            author: Author {
                role,
                id: format!("{role:?}"),
                name: name.into(),
            },
            id: MessageId(Ulid(lamport as u128)),
            chat: ChatId(Ulid(1)),
            text: text.into(),
            at: Millis(lamport * 60_000),
            file: None,
        }
    }

    #[test]
    fn the_same_records_make_the_same_email_in_display_order() {
        let header = ChatRecord {
            site: "demo".into(),
            status: ChatStatus {
                state: ChatState::Closed,
                operator: None,
                stamp: Hlc {
                    wall: Millis(9_000_000),
                    counter: 0,
                    node: 1,
                },
            },
            ..ChatRecord::empty(ChatId(Ulid(1)), Millis(1))
        };
        let request = TranscriptRequest {
            id: TranscriptId(Ulid(42)),
            to: "ada@example.com".into(),
            received_by: "primary".into(),
            at: Millis(1_000),
        };
        let messages = vec![
            message(2, Role::Operator, "Olga", "Hi!\nHow can I help?"),
            message(1, Role::Visitor, "Ada", "<b>Hello</b>"),
        ];
        let email = build(&header, &messages, &request, "Demo <chat@demo.example>");
        let reversed: Vec<Message> = messages.iter().rev().cloned().collect();
        assert_eq!(
            email,
            build(&header, &reversed, &request, "Demo <chat@demo.example>")
        );
        assert_eq!(
            email.message_id,
            format!("<{}.transcript@demo.example>", TranscriptId(Ulid(42)))
        );
        assert_eq!(
            email.date,
            Millis(9_000_000),
            "the close, after the request"
        );
        let visitor = email
            .text
            .find("[00:01] You: <b>Hello</b>")
            .expect("visitor line");
        let operator = email
            .text
            .find("[00:02] Olga: Hi!\n    How can I help?")
            .expect("operator line");
        assert!(visitor < operator, "{}", email.text);
        assert_eq!(
            message_id(&request, "chat@x.y"),
            format!("<{}.transcript@x.y>", request.id)
        );
    }
    #[test]
    fn a_message_with_a_file_names_it_without_its_control_characters() {
        let header = ChatRecord::empty(ChatId(Ulid(1)), Millis(1));
        let request = TranscriptRequest {
            id: TranscriptId(Ulid(43)),
            to: "ada@example.com".into(),
            received_by: "primary".into(),
            at: Millis(1_000),
        };
        let mut with_file = message(1, Role::Visitor, "Ada", "");
        with_file.file = Some(twinline_core::files::FileMeta {
            id: twinline_core::FileId(Ulid(5)),
            chat: ChatId(Ulid(1)),
            name: "bill\r\nBcc: x@y.z.pdf".into(),
            size: 2048,
            kind: twinline_core::files::FileType::Pdf,
            sha256: "0".repeat(64),
        });
        let email = build(&header, &[with_file], &request, "chat@x.y");
        assert!(
            email
                .text
                .contains("[00:01] You: [file: billBcc: x@y.z.pdf, 2048 bytes]\n"),
            "{}",
            email.text
        );
    }
}
