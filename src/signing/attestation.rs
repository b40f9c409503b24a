//! Attestations: in-toto v1 statements of any predicate type about a sealed
//! version, whose subjects are exactly the version's files or its root digest.
//! Which key signed one is [`super::verify::signer`]'s to say; this judges
//! what it says.

use serde_json::Value;

use super::statement::STATEMENT_TYPE;
use super::verify::{Expected, keys_are};

/// Longest predicate type accepted.
pub const MAX_PREDICATE_TYPE: usize = 256;

/// What a predicate type looks like (with at most 256 characters): printable
/// ASCII with a `:`, as a URI has.
pub const PREDICATE_TYPE_PATTERN: &str = "^[!-~]*:[!-~]*$";

/// What an attestation's subjects name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covers {
    /// Every file of the version, each by its path and SHA-256.
    Files,
    /// The version's root digest (the digest its signatures' statements name).
    Root,
}

impl Covers {
    pub fn as_str(self) -> &'static str {
        match self {
            Covers::Files => "files",
            Covers::Root => "root",
        }
    }
}

/// A statement that is about this version.
#[derive(Debug, Clone)]
pub struct Attested {
    pub predicate_type: String,
    /// The statement, as the rules read it (`input`).
    pub statement: Value,
    pub covers: Covers,
}

/// Whether `predicate_type` can name a predicate: a URI of at most 256
/// characters, no spaces or control characters.
pub fn valid_predicate_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_PREDICATE_TYPE
        && t.contains(':')
        && t.chars().all(|c| c.is_ascii_graphic())
}

/// Judges a statement's payload against the version: an in-toto Statement v1
/// with a predicate type and an object predicate, whose subjects are exactly
/// the version's files (every file once, by path and SHA-256) or one subject
/// whose SHA-256 is the version's root digest. Digests other than SHA-256 are
/// refused: the registry would vouch for what it never checked. The error
/// names what does not hold.
pub fn judge(payload: &[u8], exp: &Expected<'_>) -> Result<Attested, String> {
    let st = super::json::parse_unique(payload)
        .map_err(|_| "the payload is not a JSON statement with each key once".to_owned())?;
    if !st.is_object() || st["_type"] != STATEMENT_TYPE {
        return Err(format!("the payload's _type must be {STATEMENT_TYPE}"));
    }
    if !keys_are(&st, &["_type", "predicate", "predicateType", "subject"]) {
        return Err(
            "the statement holds exactly _type, subject, predicateType and predicate".into(),
        );
    }
    let predicate_type = st["predicateType"]
        .as_str()
        .filter(|t| valid_predicate_type(t))
        .ok_or_else(|| {
            format!("predicateType must be a URI of at most {MAX_PREDICATE_TYPE} characters")
        })?
        .to_owned();
    if !st["predicate"].is_object() {
        return Err("the predicate must be a JSON object".into());
    }
    let covers = subjects(&st["subject"], exp)?;
    Ok(Attested {
        predicate_type,
        statement: st,
        covers,
    })
}

/// The subjects: exactly the version's files, or its root digest.
fn subjects(subject: &Value, exp: &Expected<'_>) -> Result<Covers, String> {
    let list = subject
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or("subject must be a non-empty list")?;
    let mut named = Vec::with_capacity(list.len());
    for s in list {
        let (Some(name), Some(digest)) = (s["name"].as_str(), s["digest"]["sha256"].as_str())
        else {
            return Err("each subject needs a name and a digest with sha256".into());
        };
        if !keys_are(s, &["digest", "name"]) || !keys_are(&s["digest"], &["sha256"]) {
            return Err(format!(
                "subject {name:?}: a subject holds only name and digest, and the digest only \
                 sha256"
            ));
        }
        named.push((name, digest));
    }
    if let [(_, digest)] = named[..]
        && digest == exp.root()
    {
        return Ok(Covers::Root);
    }
    let files = exp.files();
    let mut seen = std::collections::BTreeSet::new();
    for (name, digest) in &named {
        match files.get(name) {
            None => {
                return Err(format!(
                    "subject {name:?} is not a file of the version (nor is its digest the \
                     version's root digest)"
                ));
            }
            Some((d, _)) if d != digest => {
                return Err(format!(
                    "subject {name:?}: its sha256 is not the version's file's"
                ));
            }
            Some(_) if !seen.insert(*name) => {
                return Err(format!("subject {name:?} is named twice"));
            }
            Some(_) => {}
        }
    }
    if seen.len() != files.len() {
        let missing: Vec<&str> = files
            .keys()
            .filter(|f| !seen.contains(*f))
            .take(5)
            .copied()
            .collect();
        return Err(format!(
            "the subjects must name every file of the version; missing: {}",
            missing.join(", ")
        ));
    }
    Ok(Covers::Files)
}
