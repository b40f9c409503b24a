//! Lists as the API pages them, read for the client's list commands.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::outcome::Done;
use super::{Client, Failure};

/// Any list the API answers: its items and the cursor of the next page.
#[derive(Deserialize)]
struct Listing<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// Up to `limit` items of a list, following its pages.
pub(super) async fn listed<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    limit: usize,
) -> Result<(Vec<T>, bool), Failure> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let page = (limit - items.len()).clamp(1, 1000);
        let mut url = format!("{path}{sep}limit={page}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", encode(c)));
        }
        let got: Listing<T> = client.get(&url).await?;
        items.extend(got.items);
        cursor = got.next_cursor;
        if cursor.is_none() || items.len() >= limit {
            break;
        }
    }
    items.truncate(limit);
    Ok((items, cursor.is_some()))
}

pub(super) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A list's outcome: one line per item (or `none`), and the items as JSON.
pub(super) fn list_done<T: serde::Serialize>(
    items: &[T],
    more: bool,
    line: impl Fn(&T) -> String,
) -> Done {
    let mut human: Vec<String> = items.iter().map(line).collect();
    if human.is_empty() {
        human.push("none".into());
    }
    if more {
        human.push("… more (raise --limit)".into());
    }
    Done {
        human: human.join("\n"),
        json: json!({ "items": items, "more": more }),
    }
}

pub(super) fn usage<E: std::fmt::Display>(flag: &str) -> impl Fn(E) -> Failure + '_ {
    move |e| Failure::usage(format!("{flag}: {e}"))
}
