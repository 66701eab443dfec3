//! The console's History view, as plain decisions (issue 22): what the
//! search form asks the relay (`GET /v1/operator/history?...`, see
//! docs/PROTOCOL.md "History"), checked here before anything is sent, and
//! the pages kept while the operator scrolls through them. The request
//! itself goes from `history_net` (wasm only) to the deployment the
//! session is on, then to the other; www/console/history.js renders what
//! comes back, text only.

use serde::Deserialize;

/// Longest search text, in characters (the relay's limit).
pub const MAX_QUERY_CHARS: usize = 200;
/// Longest visitor, operator or site filter, in characters.
pub const MAX_FILTER_CHARS: usize = 200;
/// Chats asked for per page.
pub const PAGE: usize = 20;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The search form as the page hands it over (every field text, as the
/// form controls hold it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct HistoryForm {
    /// Words.
    pub q: String,
    /// One site.
    pub site: String,
    /// Visitor id, email or part of the name.
    pub visitor: String,
    /// Operator username.
    pub operator: String,
    /// "closed", "open" or "" (all).
    pub state: String,
    /// "started" or "closed": what the dates bound.
    pub date: String,
    /// First day, `YYYY-MM-DD` (UTC), or "".
    pub from: String,
    /// Last day, `YYYY-MM-DD` (UTC, included), or "".
    pub to: String,
    /// The page to go on from (a previous answer's `next_cursor`), or "".
    pub cursor: String,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Midnight UTC of a `YYYY-MM-DD` day, in ms since the epoch.
pub fn day_start(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a date (YYYY-MM-DD)");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let year: i64 = y.parse().map_err(|_| bad())?;
    let month: u32 = m.parse().map_err(|_| bad())?;
    let day: u32 = d.parse().map_err(|_| bad())?;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) as u64 * DAY_MS)
}

/// `text` percent-encoded for a query string (everything but unreserved
/// characters).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl HistoryForm {
    /// The query string of `GET /v1/operator/history` for this form, or
    /// what is wrong with it (said as the relay would, before asking).
    pub fn query_string(&self) -> Result<String, String> {
        let mut params: Vec<(&str, String)> = Vec::new();
        let q = self.q.trim();
        let chars = q.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(format!(
                "the search has {chars} characters; at most {MAX_QUERY_CHARS}"
            ));
        }
        if !q.is_empty() {
            params.push(("q", q.to_string()));
        }
        for (name, value) in [
            ("site", &self.site),
            ("visitor", &self.visitor),
            ("operator", &self.operator),
        ] {
            let value = value.trim();
            if value.chars().count() > MAX_FILTER_CHARS {
                return Err(format!(
                    "the {name} is longer than {MAX_FILTER_CHARS} characters"
                ));
            }
            if !value.is_empty() {
                params.push((name, value.to_string()));
            }
        }
        match self.state.as_str() {
            "" | "all" => {}
            "closed" | "open" => params.push(("state", self.state.clone())),
            other => return Err(format!("{other:?} is not a state to search")),
        }
        let (from, to) = (self.from.trim(), self.to.trim());
        if !from.is_empty() || !to.is_empty() {
            match self.date.as_str() {
                "" | "started" => {}
                "closed" => {
                    if self.state == "open" {
                        return Err("open chats have no closing date".into());
                    }
                    params.push(("date", "closed".into()));
                }
                other => return Err(format!("{other:?} is not a date to search by")),
            }
            let from = (!from.is_empty()).then(|| day_start(from)).transpose()?;
            // The last day is included: up to the next midnight.
            let to = (!to.is_empty())
                .then(|| day_start(to).map(|start| start + DAY_MS))
                .transpose()?;
            if let (Some(from), Some(to)) = (from, to)
                && from >= to
            {
                return Err("the first day is after the last".into());
            }
            if let Some(from) = from {
                params.push(("from", from.to_string()));
            }
            if let Some(to) = to {
                params.push(("to", to.to_string()));
            }
        }
        params.push(("limit", PAGE.to_string()));
        if !self.cursor.is_empty() {
            params.push(("cursor", self.cursor.clone()));
        }
        Ok(params
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&"))
    }
}

/// The path of one chat read whole, if `chat` is an id.
pub fn chat_path(chat: &str) -> Result<String, String> {
    let id: twinline_core::ChatId = chat
        .parse()
        .map_err(|_| format!("{chat:?} is not a chat id"))?;
    Ok(format!("/v1/operator/history/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(q: &str) -> HistoryForm {
        HistoryForm {
            q: q.into(),
            ..HistoryForm::default()
        }
    }

    #[test]
    fn a_form_becomes_an_encoded_query_string() {
        assert_eq!(form("").query_string().unwrap(), "limit=20");
        assert_eq!(
            form("  refund & order #12 ").query_string().unwrap(),
            "q=refund%20%26%20order%20%2312&limit=20"
        );
        let all = HistoryForm {
            q: "été".into(),
            site: "demo".into(),
            visitor: "ada@example.com".into(),
            operator: "grace".into(),
            state: "closed".into(),
            date: "closed".into(),
            from: "2026-12-01".into(),
            to: "2026-12-01".into(),
            cursor: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        };
        assert_eq!(
            all.query_string().unwrap(),
            "q=%C3%A9t%C3%A9&site=demo&visitor=ada%40example.com&operator=grace&state=closed\
             &date=closed&from=1796083200000&to=1796169600000&limit=20\
             &cursor=01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
    }

    #[test]
    fn days_are_utc_midnights_and_bad_ones_are_said() {
        assert_eq!(day_start("1970-01-01"), Ok(0));
        assert_eq!(day_start("2000-03-01"), Ok(951_868_800_000));
        assert_eq!(day_start("2024-02-29"), Ok(1_709_164_800_000));
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "26-1-1-1",
            "yesterday",
            "",
            "1969-12-31",
        ] {
            assert!(day_start(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_the_relay_would_refuse_is_said_before_asking() {
        assert!(
            form(&"x".repeat(MAX_QUERY_CHARS + 1))
                .query_string()
                .is_err()
        );
        assert!(form(&"é".repeat(MAX_QUERY_CHARS)).query_string().is_ok());
        let backwards = HistoryForm {
            from: "2026-12-02".into(),
            to: "2026-12-01".into(),
            ..HistoryForm::default()
        };
        assert!(backwards.query_string().is_err());
        let open_closed = HistoryForm {
            state: "open".into(),
            date: "closed".into(),
            from: "2026-12-01".into(),
            ..HistoryForm::default()
        };
        assert!(open_closed.query_string().is_err());
        let odd_state = HistoryForm {
            state: "deleted".into(),
            ..HistoryForm::default()
        };
        assert!(odd_state.query_string().is_err());
        assert!(chat_path("../../v1/admin").is_err());
        assert_eq!(
            chat_path("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
            "/v1/operator/history/01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
    }
}
