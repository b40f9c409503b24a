//! Where a pull lands. A destination that already holds a verified pull of
//! the same version is left as it is; one holding another verified pull is
//! replaced by a swap, so a redeploy never leaves it half-written; anything
//! else there is refused unless the user forces it.

use std::path::{Path, PathBuf};

use super::local::SIGNATURE_FILE;
use super::verify::check_dir;
use super::{Exit, Failure};
use crate::names::{ModelRef, Sha256, VersionNumber};
use crate::signing::keys::PublicKey;
use crate::signing::statement::{root_digest, sort_resources};

/// What a pull found at its destination.
pub(super) enum Found {
    /// Nothing, or an empty directory.
    Nothing,
    /// A pull of this version, with these very files, that a pinned key signed.
    Same,
    /// A pull of another version (`ns/model@v`) that a pinned key signed.
    Pulled(String),
    /// Anything else.
    Other,
}

/// Inspects the destination: the files of a pulled directory are hashed and
/// checked against its signature with the pinned `keys`.
pub(super) fn inspect(
    dir: &Path,
    keys: &[PublicKey],
    model: &ModelRef,
    number: VersionNumber,
    root: &Sha256,
) -> Result<Found, Failure> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(Failure::usage(format!("{}: {e}", dir.display()))),
    };
    if !meta.is_dir() {
        return Ok(Found::Other);
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?
        .next()
        .is_none();
    if empty {
        return Ok(Found::Nothing);
    }
    let sig = dir.join(SIGNATURE_FILE);
    if !sig.is_file() {
        return Ok(Found::Other);
    }
    let checked = match check_dir(dir, keys, &sig) {
        Ok(c) if !c.keys.is_empty() => c,
        _ => return Ok(Found::Other),
    };
    let c = &checked.claims;
    let mut files = checked.files.clone();
    sort_resources(&mut files);
    if &c.model == model && c.version == number && &root_digest(&files) == root {
        return Ok(Found::Same);
    }
    Ok(Found::Pulled(format!("{}@{}", c.model, c.version)))
}

/// Puts `staging` in place of `dir`. An empty or missing destination is
/// simply replaced. An occupied one is exchanged with `staging` in one step
/// where the system offers it (Linux), so `dir` always holds one whole pull;
/// the old one is then removed, or kept beside it as `DIR.previous`. Answers
/// where the previous pull was kept.
pub(super) fn swap_in(
    staging: &Path,
    dir: &Path,
    occupied: bool,
    keep_previous: bool,
) -> Result<Option<PathBuf>, Failure> {
    let fail = |e: std::io::Error| Failure::new(Exit::Failure, format!("{}: {e}", dir.display()));
    if !occupied {
        let _ = std::fs::remove_dir(dir);
        std::fs::rename(staging, dir).map_err(fail)?;
        return Ok(None);
    }
    exchange(staging, dir).map_err(fail)?;
    // `staging` now holds the previous pull.
    if keep_previous {
        let mut kept = dir.as_os_str().to_owned();
        kept.push(".previous");
        let kept = PathBuf::from(kept);
        if kept.exists() {
            std::fs::remove_dir_all(&kept).map_err(fail)?;
        }
        std::fs::rename(staging, &kept).map_err(fail)?;
        return Ok(Some(kept));
    }
    std::fs::remove_dir_all(staging).map_err(fail)?;
    Ok(None)
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// Without an exchange call: two renames, the old pull moved back if the
/// second fails.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let mut aside = a.as_os_str().to_owned();
    aside.push(".old");
    let aside = PathBuf::from(aside);
    std::fs::rename(b, &aside)?;
    if let Err(e) = std::fs::rename(a, b) {
        let _ = std::fs::rename(&aside, b);
        return Err(e);
    }
    std::fs::rename(&aside, a)
}
