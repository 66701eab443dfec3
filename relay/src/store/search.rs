//! Chat history search (issue 22, "History"): the words a message is
//! indexed by, a search's bounded filters, and each hit's snippet, decided
//! here once for both engines.
//!
//! Both engines index the same words, made here: a message's text split at
//! every character that is not a letter or a digit, lowercased, each word
//! cut to [`MAX_WORD_CHARS`] ([`words`]). They go into the messages table's
//! `words` column (written by the merge like every column), which SQLite
//! indexes with FTS5 (a contentless table kept in step by triggers on
//! `messages`, tokenizer `unicode61` without diacritic folding) and
//! PostgreSQL with a GIN index over `array_to_tsvector` of the words as
//! they are (no parser, no dictionary: not even `simple`'s parser, which
//! keeps an email or a URL whole and, in a database without a locale,
//! splits words at every non-ASCII letter). A query's words are made by
//! the same function and each matches as a prefix, all of them in one
//! message. So a search reads the same on either deployment, whichever
//! engine each runs, once both hold the same records.
//!
//! Results are chats, greatest id first: ids are the visitors' clients'
//! (a ULID, time first), so "newest first" and the cursor (the last
//! chat's id) are the same on both deployments, where a relay's own
//! arrival time would not be. The started range is a range of ids; the
//! closed range reads the time of the status stamp that closed the chat
//! (replicated with it, so also the same on both).
//!
//! Every input is bounded and checked here ([`Filters::query`]); what
//! reaches SQL is bound parameters only, the text as words of letters and
//! digits quoted for each engine's match syntax: FTS5's and tsquery's
//! operators and quotes in a search are plain separators.

use super::StoreError;
use super::backend::Reads;
use super::records::ChatRecord;
use twinline_core::{ChatId, ChatState, Message, MessageId, Millis, Rating};

/// Longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words in a search text.
pub const MAX_WORDS: usize = 8;
/// Longest word indexed or searched, in characters (longer ones are cut:
/// the cut word still matches as a prefix).
pub const MAX_WORD_CHARS: usize = 64;
/// Longest visitor, operator or site filter, in characters.
pub const MAX_FILTER_CHARS: usize = 200;
/// Hits in a page when the request does not say.
pub const DEFAULT_LIMIT: usize = 20;
/// Most hits in one page (each hit reads its chat's messages for the
/// snippet).
pub const MAX_LIMIT: usize = 50;
/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 160;
/// Characters a snippet keeps before the first matching word.
const SNIPPET_BEFORE: usize = 40;
/// The greatest time a chat id can carry (48 bits of milliseconds).
const MAX_ID_MILLIS: u64 = (1 << 48) - 1;

/// The words `text` is indexed or searched by: letters and digits, split
/// at everything else, lowercased, each cut to [`MAX_WORD_CHARS`].
pub fn word_list(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            word.chars()
                .flat_map(char::to_lowercase)
                .filter(|c| c.is_alphanumeric())
                .take(MAX_WORD_CHARS)
                .collect::<String>()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// A message's `words` column: [`word_list`] joined by single spaces.
pub fn words(text: &str) -> String {
    word_list(text).join(" ")
}

/// Why a search was refused: a clear message with the limit, never an
/// engine's error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// A parameter past its limit, or not of its form.
    #[error("{0}")]
    Bad(String),
    /// A cursor no page of a search returned.
    #[error("the cursor is not one a page of this search returned")]
    Cursor,
}

/// Which chats by state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    /// Waiting only.
    Waiting,
    /// Active only.
    Active,
    /// Closed only.
    Closed,
    /// Waiting or active.
    Open,
}

impl StateFilter {
    /// The `state` parameter: waiting, active, closed or open.
    pub fn parse(text: &str) -> Result<StateFilter, SearchError> {
        match text {
            "waiting" => Ok(StateFilter::Waiting),
            "active" => Ok(StateFilter::Active),
            "closed" => Ok(StateFilter::Closed),
            "open" => Ok(StateFilter::Open),
            other => Err(SearchError::Bad(format!(
                "state is {:?}; it must be waiting, active, closed or open",
                clip(other)
            ))),
        }
    }

    /// The one `chats.state` value it keeps, or `None` for open (not
    /// closed).
    pub fn column(self) -> Option<&'static str> {
        match self {
            StateFilter::Waiting => Some("waiting"),
            StateFilter::Active => Some("active"),
            StateFilter::Closed => Some("closed"),
            StateFilter::Open => None,
        }
    }
}

/// Which time a date range is of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DateOf {
    /// When the chat started (its id's time).
    #[default]
    Started,
    /// When it was closed (only closed chats).
    Closed,
}

/// A search as it arrives (the query string of `GET /v1/operator/history`
/// and of the REST API's `GET /v1/api/chats?q=`), every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Filters {
    /// Words, all of which one message of the chat holds (each as a
    /// prefix).
    pub q: Option<String>,
    /// One site (within those the caller may see).
    pub site: Option<String>,
    /// A visitor id, a pre-chat email (ASCII case aside), or a part of a
    /// pre-chat name (ASCII case aside).
    pub visitor: Option<String>,
    /// The operator holding (or last holding) the chat, by username.
    pub operator: Option<String>,
    /// waiting, active, closed or open.
    pub state: Option<String>,
    /// `started` (the default) or `closed`: what `from` and `to` bound.
    pub date: Option<String>,
    /// From this time on, ms since the epoch (inclusive).
    pub from: Option<u64>,
    /// Before this time, ms since the epoch (exclusive).
    pub to: Option<u64>,
    // Departments (issue 22's other part) are not built yet: their filter
    // goes here, `department`, by department id, once chats carry one.
    /// Hits wanted, 1 to [`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
}

/// A checked search, for [`Reads::search_chats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// The words ([`word_list`] of `q`); none: every chat the filters
    /// keep.
    pub words: Vec<String>,
    /// The sites searched; `None` is every site (placeholder rows, which
    /// have none, never).
    pub sites: Option<Vec<String>>,
    /// A visitor id as given.
    pub visitor: Option<String>,
    /// The same, ASCII-lowercased, for the email and the name.
    pub visitor_lower: Option<String>,
    /// Operator username.
    pub operator: Option<String>,
    /// State.
    pub state: Option<StateFilter>,
    /// Lowest chat id (the started range's start).
    pub id_from: Option<ChatId>,
    /// Chat ids below this one (the started range's end, or the cursor,
    /// whichever is lower).
    pub id_below: Option<ChatId>,
    /// Closed from this stamp time on (ms).
    pub closed_from: Option<u64>,
    /// Closed before this stamp time (ms).
    pub closed_to: Option<u64>,
    /// Hits wanted.
    pub limit: usize,
}

/// `text`'s first 40 characters, for an error message.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

fn bounded(name: &str, value: Option<&str>) -> Result<Option<String>, SearchError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let chars = value.chars().count();
    if chars > MAX_FILTER_CHARS {
        return Err(SearchError::Bad(format!(
            "{name} has {chars} characters; at most {MAX_FILTER_CHARS}"
        )));
    }
    Ok(Some(value.to_string()))
}

impl Filters {
    /// The search these filters ask for, over the sites the caller may
    /// see (`reach`; `None`: every site). A site outside the reach finds
    /// nothing (as if it had no chats); anything past its limit or not
    /// of its form is a [`SearchError`].
    pub fn query(&self, reach: Option<&[String]>) -> Result<Query, SearchError> {
        let text = self.q.as_deref().unwrap_or("");
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(SearchError::Bad(format!(
                "q has {chars} characters; at most {MAX_QUERY_CHARS}"
            )));
        }
        let mut words = word_list(text);
        words.sort();
        words.dedup();
        if words.len() > MAX_WORDS {
            return Err(SearchError::Bad(format!(
                "q has {} words; at most {MAX_WORDS}",
                words.len()
            )));
        }
        let site = bounded("site", self.site.as_deref())?;
        let sites = match (reach, site) {
            (None, None) => None,
            (None, Some(site)) => Some(vec![site]),
            (Some(reach), None) => Some(reach.to_vec()),
            (Some(reach), Some(site)) => {
                Some(reach.iter().filter(|s| **s == site).cloned().collect())
            }
        };
        let visitor = bounded("visitor", self.visitor.as_deref())?;
        let operator = bounded("operator", self.operator.as_deref())?;
        // An empty parameter (a form's "all") is one not given.
        let mut state = self
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(StateFilter::parse)
            .transpose()?;
        let date = match self.date.as_deref() {
            None | Some("" | "started") => DateOf::Started,
            Some("closed") => DateOf::Closed,
            Some(other) => {
                return Err(SearchError::Bad(format!(
                    "date is {:?}; it must be started or closed",
                    clip(other)
                )));
            }
        };
        for (name, value) in [("from", self.from), ("to", self.to)] {
            if value.is_some_and(|v| v > twinline_core::model::MAX_SAFE_INTEGER) {
                return Err(SearchError::Bad(format!(
                    "{name} is past 2^53 - 1 ms; it is a time in ms since the epoch"
                )));
            }
        }
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => {
                return Err(SearchError::Bad(format!(
                    "limit is {n}; it must be 1 to {MAX_LIMIT}"
                )));
            }
        };
        let cursor: Option<ChatId> = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse().map_err(|_| SearchError::Cursor)?),
        };
        let mut query = Query {
            words,
            sites,
            visitor_lower: visitor.as_ref().map(|v| v.to_ascii_lowercase()),
            visitor,
            operator,
            state,
            limit,
            id_below: cursor,
            ..Query::default()
        };
        match date {
            DateOf::Started => {
                query.id_from = self
                    .from
                    .map(|from| ChatId::new(Millis(from.min(MAX_ID_MILLIS)), 0));
                if let Some(to) = self.to {
                    let end = ChatId::new(Millis(to.min(MAX_ID_MILLIS)), 0);
                    query.id_below = Some(query.id_below.map_or(end, |c| c.min(end)));
                }
            }
            DateOf::Closed => {
                if state.is_some_and(|s| s != StateFilter::Closed) {
                    return Err(SearchError::Bad(
                        "date=closed finds closed chats only; drop state or make it closed".into(),
                    ));
                }
                state = Some(StateFilter::Closed);
                query.state = state;
                query.closed_from = self.from;
                query.closed_to = self.to;
            }
        }
        Ok(query)
    }
}

impl Query {
    /// Whether nothing can match (no site in reach), so no engine is
    /// asked.
    pub fn finds_nothing(&self) -> bool {
        self.sites.as_ref().is_some_and(Vec::is_empty)
    }

    /// The words as an FTS5 match: each a quoted prefix, all of them
    /// (`"w1"* "w2"*`). Words are letters and digits only, so nothing in
    /// them is FTS5 syntax.
    pub fn fts5_match(&self) -> Option<String> {
        (!self.words.is_empty()).then(|| {
            self.words
                .iter()
                .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// The words as a tsquery: each a quoted prefix, all of them
    /// (`'w1':* & 'w2':*`).
    pub fn tsquery(&self) -> Option<String> {
        (!self.words.is_empty()).then(|| {
            self.words
                .iter()
                .map(|w| format!("'{}':*", w.replace(['\'', '\\'], "")))
                .collect::<Vec<_>>()
                .join(" & ")
        })
    }

    /// Whether `text` holds every word as a prefix of one of its words.
    pub fn matches(&self, text: &str) -> bool {
        let have = word_list(text);
        self.words
            .iter()
            .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
    }
}

/// One chat found: its header and where its words are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The chat's header as stored.
    pub chat: ChatRecord,
    /// Where the words are: the first matching message's text around the
    /// first word (or, with no words, the chat's first message), at most
    /// [`SNIPPET_CHARS`] and an ellipsis each side; plain text.
    pub snippet: String,
    /// The message the snippet is of.
    pub message: Option<MessageId>,
}

/// A page of chats found and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The chats, greatest id first.
    pub items: Vec<Found>,
    /// The cursor of the next page (`None`: this was the last).
    pub next_cursor: Option<String>,
}

/// A chat found as the console's history lists it (docs/PROTOCOL.md,
/// "History").
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// The chat.
    pub chat: ChatId,
    /// Its site.
    pub site: String,
    /// Its visitor's id.
    pub visitor: String,
    /// The pre-chat name.
    pub name: String,
    /// The pre-chat email.
    pub email: String,
    /// When it started (its id's time), ms.
    pub started: Millis,
    /// waiting, active or closed.
    pub state: ChatState,
    /// The operator holding or last holding it.
    pub operator: Option<String>,
    /// When it was closed (the closing stamp's time), ms, if closed.
    pub closed: Option<Millis>,
    /// Its rating, if rated.
    pub rating: Option<Rating>,
    /// See [`Found::snippet`].
    pub snippet: String,
}

impl From<&Found> for Hit {
    fn from(found: &Found) -> Hit {
        let chat = &found.chat;
        Hit {
            chat: chat.id,
            site: chat.site.clone(),
            visitor: chat.visitor.to_string(),
            name: chat.info.name.clone(),
            email: chat.info.email.clone(),
            started: chat.id.0.millis(),
            state: chat.status.state,
            operator: chat.status.operator.clone(),
            closed: closed_at(chat),
            rating: chat.rating.clone(),
            snippet: found.snippet.clone(),
        }
    }
}

/// When `chat` was closed (its closing stamp's time), if it is.
pub fn closed_at(chat: &ChatRecord) -> Option<Millis> {
    (chat.status.state == ChatState::Closed).then_some(chat.status.stamp.wall)
}

/// The snippet of `text` around the first of `words` it holds as a
/// prefix: up to [`SNIPPET_CHARS`], starting a little before the match,
/// with an ellipsis where it was cut.
pub fn snippet(text: &str, words: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    // Where each word of the text starts, with the word.
    let mut start = None;
    let mut index = 0;
    while index < chars.len() && start.is_none() && !words.is_empty() {
        if chars[index].is_alphanumeric() {
            let begin = index;
            while index < chars.len() && chars[index].is_alphanumeric() {
                index += 1;
            }
            let word: String = chars[begin..index]
                .iter()
                .flat_map(|c| c.to_lowercase())
                .collect();
            if words.iter().any(|w| word.starts_with(w.as_str())) {
                start = Some(begin);
            }
        } else {
            index += 1;
        }
    }
    let from = start.map_or(0, |at| at.saturating_sub(SNIPPET_BEFORE));
    let to = (from + SNIPPET_CHARS).min(chars.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(&chars[from..to]);
    if to < chars.len() {
        out.push('…');
    }
    out
}

/// What was found of `chat`, whose messages are `messages` (in Lamport
/// order).
pub fn found(chat: ChatRecord, messages: &[Message], query: &Query) -> Found {
    let first = messages
        .iter()
        .find(|m| query.words.is_empty() || query.matches(&m.text))
        .or_else(|| messages.first());
    Found {
        chat,
        snippet: first.map_or_else(String::new, |m| snippet(&m.text, &query.words)),
        message: first.map(|m| m.id),
    }
}

/// Runs `query`: the chats, then each one's messages for its snippet.
pub fn run(conn: &mut dyn Reads, query: &Query) -> Result<Page, StoreError> {
    if query.finds_nothing() {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let chats = conn.search_chats(query)?;
    let next_cursor = (chats.len() == query.limit)
        .then(|| chats.last().map(|c| c.id.to_string()))
        .flatten();
    let mut items = Vec::with_capacity(chats.len());
    for chat in chats {
        let messages = conn.messages(chat.id)?;
        items.push(found(chat, &messages, query));
    }
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(q: &str) -> Filters {
        Filters {
            q: Some(q.into()),
            ..Filters::default()
        }
    }

    #[test]
    fn words_are_letters_and_digits_lowercased_and_cut() {
        assert_eq!(words("Hello, World! It's 42°C"), "hello world it s 42 c");
        assert_eq!(words("Ça coûte 3€ — ÉTÉ"), "ça coûte 3 été");
        assert_eq!(words("bob@example.com/x?y=1"), "bob example com x y 1");
        assert_eq!(words("  \"' OR 1=1 --*"), "or 1 1");
        assert_eq!(words(&"a".repeat(500)), "a".repeat(MAX_WORD_CHARS));
        assert_eq!(words("日本語 テキスト"), "日本語 テキスト");
        assert_eq!(words(""), "");
    }

    #[test]
    fn engine_syntax_in_a_search_is_plain_separators() {
        for hostile in [
            "\"unclosed",
            "a AND OR NOT b",
            "col:umn* ^start NEAR(a b)",
            "'; DROP TABLE messages; --",
            "a & b | !c <-> d:*",
            "\\'\\\"",
        ] {
            let query = filters(hostile).query(None).unwrap();
            for word in &query.words {
                assert!(word.chars().all(char::is_alphanumeric), "{word:?}");
            }
            if let Some(fts) = query.fts5_match() {
                assert!(!fts.contains('\''), "{fts}");
            }
        }
        let query = filters("refund ORDER").query(None).unwrap();
        assert_eq!(query.fts5_match().unwrap(), "\"order\"* \"refund\"*");
        assert_eq!(query.tsquery().unwrap(), "'order':* & 'refund':*");
    }

    #[test]
    fn every_parameter_is_bounded_with_a_clear_refusal() {
        let long = "x ".repeat(MAX_QUERY_CHARS);
        let error = filters(&long).query(None).unwrap_err();
        assert!(error.to_string().contains("at most 200"), "{error}");
        let many = "a b c d e f g h i";
        let error = filters(many).query(None).unwrap_err();
        assert!(error.to_string().contains("at most 8"), "{error}");
        for bad in [
            Filters {
                visitor: Some("v".repeat(MAX_FILTER_CHARS + 1)),
                ..Filters::default()
            },
            Filters {
                state: Some("gone".into()),
                ..Filters::default()
            },
            Filters {
                date: Some("yesterday".into()),
                ..Filters::default()
            },
            Filters {
                from: Some(u64::MAX),
                ..Filters::default()
            },
            Filters {
                limit: Some(MAX_LIMIT + 1),
                ..Filters::default()
            },
            Filters {
                limit: Some(0),
                ..Filters::default()
            },
            Filters {
                cursor: Some("' OR 1=1 --".into()),
                ..Filters::default()
            },
            Filters {
                date: Some("closed".into()),
                state: Some("open".into()),
                ..Filters::default()
            },
        ] {
            assert!(bad.query(None).is_err(), "{bad:?}");
        }
        // The same word twice is one.
        assert_eq!(filters("a A a").query(None).unwrap().words, ["a"]);
        // An empty state or date (a form's "all") is none given.
        let all = Filters {
            state: Some(String::new()),
            date: Some(String::new()),
            ..Filters::default()
        };
        assert_eq!(all.query(None).unwrap().state, None);
    }

    #[test]
    fn a_site_outside_the_reach_finds_nothing() {
        let reach = vec!["a".to_string(), "b".to_string()];
        let mine = Filters {
            site: Some("b".into()),
            ..Filters::default()
        };
        assert_eq!(
            mine.query(Some(&reach)).unwrap().sites,
            Some(vec!["b".into()])
        );
        let other = Filters {
            site: Some("c".into()),
            ..Filters::default()
        };
        assert!(other.query(Some(&reach)).unwrap().finds_nothing());
        assert_eq!(
            Filters::default().query(Some(&reach)).unwrap().sites,
            Some(reach.clone())
        );
        assert_eq!(Filters::default().query(None).unwrap().sites, None);
        assert!(Filters::default().query(Some(&[])).unwrap().finds_nothing());
    }

    #[test]
    fn dates_bound_ids_or_closing_stamps() {
        let started = Filters {
            from: Some(1_000),
            to: Some(2_000),
            ..Filters::default()
        }
        .query(None)
        .unwrap();
        assert_eq!(started.id_from, Some(ChatId::new(Millis(1_000), 0)));
        assert_eq!(started.id_below, Some(ChatId::new(Millis(2_000), 0)));
        // The cursor and the range's end: the lower bound wins.
        let cursor = ChatId::new(Millis(1_500), 7);
        let paged = Filters {
            to: Some(2_000),
            cursor: Some(cursor.to_string()),
            ..Filters::default()
        }
        .query(None)
        .unwrap();
        assert_eq!(paged.id_below, Some(cursor));
        let closed = Filters {
            date: Some("closed".into()),
            from: Some(5),
            to: Some(9),
            ..Filters::default()
        }
        .query(None)
        .unwrap();
        assert_eq!(
            (closed.state, closed.closed_from, closed.closed_to),
            (Some(StateFilter::Closed), Some(5), Some(9))
        );
        assert_eq!(closed.id_from, None);
    }

    #[test]
    fn a_snippet_starts_before_the_match_and_is_cut_with_ellipses() {
        let words = vec!["refu".to_string()];
        assert_eq!(
            snippet("I want a Refund now", &words),
            "I want a Refund now"
        );
        let long = format!("{} refund {}", "a".repeat(100), "b".repeat(300));
        let cut = snippet(&long, &words);
        assert!(cut.starts_with('…') && cut.ends_with('…'), "{cut}");
        assert!(cut.contains("refund"));
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 2);
        assert_eq!(snippet("é".repeat(10).as_str(), &[]), "é".repeat(10));
    }

    #[test]
    fn a_query_matches_text_holding_every_word_as_a_prefix() {
        let query = filters("ref ORD").query(None).unwrap();
        assert!(query.matches("Refund for order 12"));
        assert!(!query.matches("Refund please"));
        assert!(!query.matches("prefer words"), "a prefix, not a substring");
    }
}
