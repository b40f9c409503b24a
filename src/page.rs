//! Pagination, written once: `?limit=&cursor=` in, `{items, next_cursor}` out.
//!
//! A cursor is the opaque (base64) key of the last item of the previous page;
//! each listing says what its key is (an id, a number, `namespace/name`).
//! Dependency rule: a leaf, like `names`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::names::InvalidValue;

/// One page's request: how many items, and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    after: Option<String>,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 1000;

    /// `limit` 1 to 1000 (default 50); `cursor` as a previous page returned it.
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, InvalidValue> {
        let limit = match limit.unwrap_or(Self::DEFAULT_LIMIT) {
            n @ 1..=Self::MAX_LIMIT => i64::from(n),
            _ => return Err(InvalidValue("limit must be between 1 and 1000".into())),
        };
        let after = cursor
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| InvalidValue("invalid cursor".into()))
            })
            .transpose()?
            .filter(|k| !k.is_empty());
        Ok(Self { limit, after })
    }

    /// A page of `limit` items (clamped to 1 to 1000) after the key `after`
    /// as given in clear (the OCI face's `last`), not as a cursor.
    pub fn starting_after(limit: u32, after: Option<&str>) -> Result<Self, InvalidValue> {
        Ok(Self {
            limit: i64::from(limit.clamp(1, Self::MAX_LIMIT)),
            after: after.filter(|k| !k.is_empty()).map(str::to_owned),
        })
    }

    /// What `limit` accepts, as the OpenAPI document states it.
    pub fn limit_schema() -> utoipa::openapi::schema::Object {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(Self::MAX_LIMIT))
            .build()
    }

    /// What `cursor` accepts: unpadded URL-safe base64.
    pub fn cursor_schema() -> utoipa::openapi::schema::Object {
        crate::names::string_schema("^[A-Za-z0-9_-]*$").build()
    }

    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// The key to continue after, as text ("" on the first page).
    pub fn after_text(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    /// The key to continue after, parsed as the listing's key type.
    pub fn after<K: std::str::FromStr>(&self) -> Result<Option<K>, InvalidValue> {
        self.after
            .as_deref()
            .map(|k| k.parse().map_err(|_| InvalidValue("invalid cursor".into())))
            .transpose()
    }
}

/// A page of items and the cursor of the next one (None on the last page).
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// Wraps a page read with `page`; a full page has a next cursor, the key of
    /// its last item.
    pub fn new(items: Vec<T>, page: &Page, key: impl Fn(&T) -> String) -> Self {
        let next_cursor = (items.len() as i64 == page.limit)
            .then(|| items.last().map(|last| URL_SAFE_NO_PAD.encode(key(last))))
            .flatten();
        Self { items, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    /// Each item with what was gathered for it, in order (`extra` holds one
    /// entry per item).
    pub fn zip<U, V>(self, extra: Vec<U>, mut f: impl FnMut(T, U) -> V) -> Paged<V> {
        let mut extra = extra.into_iter();
        self.map(|t| f(t, extra.next().expect("one entry per item")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(Page::parse(None, None).unwrap().limit(), 50);
        assert!(Page::parse(Some(0), None).is_err());
        assert!(Page::parse(Some(1001), None).is_err());
        assert!(Page::parse(None, Some("%%%")).is_err());
        let full = Paged::new(vec![1, 2], &Page::parse(Some(2), None).unwrap(), |n| {
            n.to_string()
        });
        let next = Page::parse(Some(2), full.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after::<i64>().unwrap(), Some(2));
        let last = Paged::new(vec![3], &next, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
