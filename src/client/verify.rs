//! `signet verify`: a pulled directory checked against its signature and the
//! keys the verifier pins, offline; with `--online`, against the registry's
//! revocations too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::local::{SIGNATURE_FILE, local_files, read_key, unverified};
use super::outcome::Done;
use super::{Client, Failure};
use crate::names::KeyId;
use crate::signing::keys::PublicKey;
use crate::signing::pinned::{Claims, claims, verify_binding};
use crate::signing::statement::Resource;

/// A directory whose files a pinned key signed: what the signature claims, the
/// files found, and each pinned key that verifies it (in the order pinned).
pub(super) struct Checked {
    pub claims: Claims,
    pub files: Vec<Resource>,
    pub keys: Vec<KeyId>,
    /// Each pinned key that does not, and why.
    pub refused: Vec<String>,
}

/// Checks `dir` against its signature `sig_path` with the pinned `keys`, here.
pub(super) fn check_dir(
    dir: &Path,
    keys: &[PublicKey],
    sig_path: &Path,
) -> Result<Checked, Failure> {
    let doc = std::fs::read(sig_path).map_err(|e| {
        Failure::usage(format!(
            "{}: {e} (a directory `signet pull` made holds its signature as {SIGNATURE_FILE}; \
             give another with --signature)",
            sig_path.display()
        ))
    })?;
    let claims: Claims =
        claims(&doc).map_err(|r| unverified(format!("{}: {}", sig_path.display(), r.code())))?;
    let files = local_files(dir, Some(sig_path))?;
    let (mut verified, mut refused) = (Vec::new(), Vec::new());
    for key in keys {
        match verify_binding(&doc, key, &claims, &claims.model, claims.version, &files) {
            Ok(id) => verified.push(id),
            Err(r) => refused.push(format!("{}: {}", key.id, r.code())),
        }
    }
    Ok(Checked {
        claims,
        files,
        keys: verified,
        refused,
    })
}

/// `signet verify DIR --key PUB [--signature FILE] [--online]`: offline, no
/// registry; with `client` (`--online`), a key the registry has revoked since
/// stops counting, as in a pull.
pub async fn verify_dir(
    dir: &Path,
    keys: &[PathBuf],
    signature: Option<&Path>,
    client: Option<&Client>,
) -> Result<Done, Failure> {
    let keys = super::config::trusted_keys(keys)?
        .iter()
        .map(|p| read_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let sig_path = signature.map_or_else(|| dir.join(SIGNATURE_FILE), Path::to_path_buf);
    let Checked {
        claims,
        files,
        keys: verified,
        mut refused,
    } = check_dir(dir, &keys, &sig_path)?;
    let mut keyid = None;
    for id in verified {
        let revoked = match client {
            Some(c) => super::revocation::cancelled(c, &id, &claims.model, claims.version).await?,
            None => None,
        };
        match revoked {
            Some(why) => refused.push(why),
            None => {
                keyid = Some(id);
                break;
            }
        }
    }
    let keyid = keyid.ok_or_else(|| {
        let changes = differences(&claims.resources, &files);
        unverified(format!(
            "{} does not match what a trusted key signed ({}){}",
            dir.display(),
            refused.join("; "),
            changes
        ))
    })?;
    Ok(Done {
        human: format!(
            "verified: {}@{} of {} ({} files), signed by {keyid}",
            claims.model,
            claims.version.get(),
            claims.registry,
            files.len()
        ),
        json: json!({
            "model": claims.model.to_string(), "version": claims.version.get(),
            "registry": claims.registry, "keyid": keyid.to_string(), "files": files.len(),
            "online": client.is_some(),
        }),
    })
}

/// Each file that differs from what the signature lists: changed, missing or
/// extra, one per line (nothing when the files are exactly those signed).
fn differences(signed: &[Resource], here: &[Resource]) -> String {
    let signed: BTreeMap<&str, &Resource> = signed.iter().map(|r| (r.path.as_str(), r)).collect();
    let here: BTreeMap<&str, &Resource> = here.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut out = String::new();
    for (path, s) in &signed {
        match here.get(path) {
            None => out.push_str(&format!("\n  missing: {path}")),
            Some(h) if h.size != s.size || h.sha256 != s.sha256 => {
                out.push_str(&format!("\n  changed: {path}"))
            }
            Some(_) => {}
        }
    }
    for path in here.keys().filter(|p| !signed.contains_key(*p)) {
        out.push_str(&format!("\n  extra: {path}"));
    }
    out
}
