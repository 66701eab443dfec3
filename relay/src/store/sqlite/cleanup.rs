//! The one-time clean-up of records stored before the relay bounded what it
//! takes (schema version 2): numbers no JavaScript reader holds, and times
//! from the future, which once blinded every console and pinned notes to
//! the top of every inbox.
//!
//! Nothing is deleted: a message whose Lamport clock is out of range is
//! renumbered after the highest in range of its chat (in the order it had),
//! so its text stays and the chat can go on; a message or note dated in the
//! future gets the time this relay recorded it (its feed entry's `at`, or
//! now); a stamp from the future is bounded like one from the peer
//! ([`bounded_stamp`]). Both deployments run the same rules on the same
//! records, and the feed's copies are rewritten too, so a peer catching up
//! later learns the cleaned values. What was done is logged.

use rusqlite::{Connection, OptionalExtension, params};
use twinline_core::model::{MAX_CLOCK_SKEW_MS, MAX_SAFE_INTEGER, bounded_stamp};
use twinline_core::{ChatStatus, Lamport, Message, Millis, VisitorInfo};

use crate::store::records::Account;

/// What the clean-up changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages given a Lamport clock in range.
    pub renumbered: Vec<String>,
    /// Messages and notes re-dated from the future.
    pub redated: usize,
    /// Chat headers and accounts whose stamps were bounded.
    pub stamps: usize,
}

impl Report {
    /// Logs what was done (nothing if nothing was).
    pub fn log(&self) {
        if !self.renumbered.is_empty() {
            tracing::warn!(
                count = self.renumbered.len(),
                ids = ?self.renumbered,
                "renumbered stored messages whose Lamport clock no client can hold"
            );
        }
        if self.redated > 0 {
            tracing::warn!(
                count = self.redated,
                "re-dated stored messages and notes from the future to when they were received"
            );
        }
        if self.stamps > 0 {
            tracing::info!(
                count = self.stamps,
                "bounded stored last-writer-wins stamps (future times, node ids over 2^53)"
            );
        }
    }
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// When this relay recorded a record, from its feed; `now` if it has none.
fn recorded_at(tx: &Connection, kind: &str, key: &str, now: Millis) -> rusqlite::Result<Millis> {
    let at: Option<i64> = tx
        .query_row(
            "SELECT MIN(at) FROM changes WHERE kind = ?1 AND key = ?2",
            params![kind, key],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Ok(at
        .map(|at| Millis(at.max(0) as u64))
        .filter(|at| at.0 <= now.0)
        .unwrap_or(now))
}

fn rewrite_feed(tx: &Connection, kind: &str, key: &str, body: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE changes SET body = ?3 WHERE kind = ?1 AND key = ?2",
        params![kind, key, body],
    )?;
    Ok(())
}

/// Cleans what is out of range (see the module docs).
pub fn out_of_range(tx: &Connection, now: Millis) -> rusqlite::Result<Report> {
    let mut report = Report::default();
    let latest = now.0.saturating_add(MAX_CLOCK_SKEW_MS);
    renumber_lamports(tx, &mut report)?;
    // json_extract reads a number too large for an integer as a float,
    // which still compares as larger; a note's column may have wrapped.
    report.redated += redate(
        tx,
        "messages",
        "message",
        "json_extract(body, '$.at') > ?1",
        now,
        latest,
    )?;
    report.redated += redate(tx, "notes", "note", "at < 0 OR at > ?1", now, latest)?;
    bound_chat_stamps(tx, now, &mut report)?;
    bound_account_stamps(tx, now, &mut report)?;
    Ok(report)
}

fn renumber_lamports(tx: &Connection, report: &mut Report) -> rusqlite::Result<()> {
    // Stored as i64: a u64 past i64::MAX reads back negative.
    let mut rows: Vec<(String, String)> = tx
        .prepare("SELECT chat, body FROM messages WHERE lamport < 0 OR lamport > ?1")?
        .query_map([MAX_SAFE_INTEGER as i64], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.sort();
    let mut by_chat: std::collections::BTreeMap<String, Vec<Message>> = Default::default();
    for (chat, body) in rows {
        by_chat.entry(chat).or_default().push(json(&body)?);
    }
    for (chat, mut messages) in by_chat {
        messages.sort_by(|a, b| a.display_key().cmp(&b.display_key()));
        let highest: Option<i64> = tx.query_row(
            "SELECT MAX(lamport) FROM messages WHERE chat = ?1 AND lamport BETWEEN 0 AND ?2",
            params![chat, MAX_SAFE_INTEGER as i64],
            |row| row.get(0),
        )?;
        let mut next = highest.unwrap_or(0) as u64;
        for mut msg in messages {
            next = (next + 1).min(MAX_SAFE_INTEGER);
            msg.lamport = Lamport(next);
            let id = msg.id.to_string();
            let body = to_json(&msg);
            tx.execute(
                "UPDATE messages SET lamport = ?2, body = ?3 WHERE id = ?1",
                params![id, next as i64, body],
            )?;
            rewrite_feed(tx, "message", &id, &body)?;
            report.renumbered.push(id);
        }
    }
    Ok(())
}

/// Re-dates the rows of `table` that `future` selects (their `at` past
/// `latest`) to when this relay recorded them. Read as JSON values, so
/// nothing else in the record changes.
fn redate(
    tx: &Connection,
    table: &str,
    kind: &str,
    future: &str,
    now: Millis,
    latest: u64,
) -> rusqlite::Result<usize> {
    let rows: Vec<(String, String)> = tx
        .prepare(&format!("SELECT id, body FROM {table} WHERE {future}"))?
        .query_map([latest as i64], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, body) in &rows {
        let mut value: serde_json::Value = json(body)?;
        let at = recorded_at(tx, kind, id, now)?;
        value["at"] = at.0.into();
        let body = value.to_string();
        if table == "notes" {
            // Notes keep their time in a column too: the inbox sorts by it.
            tx.execute(
                "UPDATE notes SET body = ?2, at = ?3 WHERE id = ?1",
                params![id, body, at.0 as i64],
            )?;
        } else {
            tx.execute(
                &format!("UPDATE {table} SET body = ?2 WHERE id = ?1"),
                params![id, body],
            )?;
        }
        rewrite_feed(tx, kind, id, &body)?;
    }
    Ok(rows.len())
}

fn bound_chat_stamps(tx: &Connection, now: Millis, report: &mut Report) -> rusqlite::Result<()> {
    let rows: Vec<(String, i64, String, String)> = tx
        .prepare("SELECT id, created, status, info FROM chats")?
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, created, status_json, info_json) in rows {
        let mut status: ChatStatus = json(&status_json)?;
        let mut info: VisitorInfo = json(&info_json)?;
        let bounded_created = if created < 0 || created as u64 > now.0 + MAX_CLOCK_SKEW_MS {
            now.0 as i64
        } else {
            created
        };
        let (old_status, old_info) = (status.stamp, info.stamp);
        status.stamp = bounded_stamp(status.stamp, now);
        info.stamp = bounded_stamp(info.stamp, now);
        if status.stamp == old_status && info.stamp == old_info && bounded_created == created {
            continue;
        }
        tx.execute(
            "UPDATE chats SET created = ?2, status = ?3, info = ?4 WHERE id = ?1",
            params![id, bounded_created, to_json(&status), to_json(&info)],
        )?;
        report.stamps += 1;
    }
    Ok(())
}

fn bound_account_stamps(tx: &Connection, now: Millis, report: &mut Report) -> rusqlite::Result<()> {
    let rows: Vec<String> = tx
        .prepare("SELECT body FROM accounts")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for body in rows {
        let mut account: Account = json(&body)?;
        let old = account.stamp;
        account.stamp = bounded_stamp(account.stamp, now);
        if account.stamp == old {
            continue;
        }
        tx.execute(
            "UPDATE accounts SET body = ?2 WHERE username = ?1",
            params![account.username, to_json(&account)],
        )?;
        report.stamps += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Reads;
    use crate::store::sqlite::schema;
    use twinline_core::{Author, ChatId, MessageId, Role, Ulid};

    fn message(id: u128, lamport: u64, at: u64) -> Message {
        Message {
            lamport: Lamport(lamport),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            id: MessageId(Ulid(id)),
            chat: ChatId(Ulid(1)),
            text: format!("message {id}"),
            at: Millis(at),
            file: None,
        }
    }

    /// A store as an older relay left it: version 1, hostile records
    /// stored as they came, each with its feed entry.
    fn old_store() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(schema::SCHEMA).unwrap();
        let now = 1_764_000_000_000_i64;
        for msg in [
            message(1, 1, 1_000),
            message(2, u64::MAX, 2_000),
            message(3, 1 << 53, 3_000),
            message(4, 2, 4_102_444_800_000),
        ] {
            let body = to_json(&msg);
            conn.execute(
                "INSERT INTO messages (id, chat, lamport, body) VALUES (?1, ?2, ?3, ?4)",
                params![
                    msg.id.to_string(),
                    msg.chat.to_string(),
                    msg.lamport.0 as i64,
                    body
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO changes (kind, key, origin, at, body) VALUES ('message', ?1, 'primary', ?2, ?3)",
                params![msg.id.to_string(), now, body],
            )
            .unwrap();
        }
        let note = r#"{"id":"01JDQ61XYZ0123456789ABCDEF","site":"demo","name":"N","email":"","text":"dated 2100","at":4102444800000}"#;
        conn.execute(
            "INSERT INTO notes (id, site, at, body) VALUES ('01JDQ61XYZ0123456789ABCDEF', 'demo', 4102444800000, ?1)",
            [note],
        )
        .unwrap();
        conn
    }

    #[test]
    fn out_of_range_messages_are_renumbered_and_redated_not_lost() {
        let mut conn = old_store();
        let now = Millis(1_764_000_100_000);
        let report = out_of_range(&conn, now).unwrap();
        assert_eq!(report.renumbered.len(), 2);
        assert_eq!(report.redated, 2, "a message and a note");
        let notes = conn.notes(10, None).unwrap();
        assert_eq!(notes[0].at, now, "no feed entry: dated now");
        let messages = conn.messages(ChatId(Ulid(1))).unwrap();
        assert_eq!(messages.len(), 4, "nothing is deleted");
        let lamports: Vec<u64> = messages.iter().map(|m| m.lamport.0).collect();
        assert_eq!(lamports, vec![1, 2, 3, 4]);
        // The two out-of-range ones follow the chat, in the order they had.
        assert_eq!(messages[2].id, MessageId(Ulid(3)));
        assert_eq!(messages[3].id, MessageId(Ulid(2)));
        let dated = messages
            .iter()
            .find(|m| m.id == MessageId(Ulid(4)))
            .unwrap();
        assert_eq!(
            dated.at,
            Millis(1_764_000_000_000),
            "the time it was received"
        );
        // The feed serves the cleaned copies.
        let page = conn.changes_since(0, 100, "nobody").unwrap();
        for change in page.changes {
            let crate::store::records::Record::Message(msg) = change.record else {
                panic!("only messages")
            };
            assert!(msg.lamport.0 <= 4 && msg.at.0 <= now.0);
        }
        assert_eq!(
            out_of_range(&conn, now).unwrap(),
            Report::default(),
            "idempotent"
        );
    }
}
