//! Where the client's credentials live: one JSON file per user, readable by
//! its owner only, under the platform's configuration directory
//! (`~/.config/signet/credentials.json` on Linux; `SIGNET_CONFIG_DIR` moves
//! it). `SIGNET_URL` and `SIGNET_TOKEN` override what it holds.
//!
//! Beside it, `trust/` holds the public keys a deployer pins without naming
//! them on every pull (`SIGNET_TRUST_DIR` moves it).

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Exit, Failure};

/// A registry and the token to use there.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub token: String,
}

// The token is a secret: never print it.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The configuration directory.
pub fn dir() -> Result<PathBuf, Failure> {
    if let Some(d) = std::env::var_os("SIGNET_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    dirs::config_dir().map(|d| d.join("signet")).ok_or_else(|| {
        Failure::new(
            Exit::Failure,
            "no configuration directory (set SIGNET_CONFIG_DIR)",
        )
    })
}

/// The directory of pinned public keys.
pub fn trust_dir() -> Result<PathBuf, Failure> {
    match std::env::var_os("SIGNET_TRUST_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(dir()?.join("trust")),
    }
}

/// The keys to trust: those named, or else every `*.pub` of the trust
/// directory. Naming keys pins exactly those.
pub fn trusted_keys(named: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    if !named.is_empty() {
        return Ok(named.to_vec());
    }
    let dir = trust_dir()?;
    let mut keys: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pub") && p.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(Failure::new(
                Exit::Failure,
                format!("{}: {e}", dir.display()),
            ));
        }
    };
    if keys.is_empty() {
        return Err(Failure::usage(format!(
            "no trusted key: name one with --trust-key/--key, or put public keys (*.pub) in {}",
            dir.display()
        )));
    }
    keys.sort();
    Ok(keys)
}

fn file() -> Result<PathBuf, Failure> {
    Ok(dir()?.join("credentials.json"))
}

/// Saves the credentials, readable and writable by their owner only. The file
/// is written beside its place and renamed over it, so a reader never sees
/// half of it.
pub fn save(c: &Credentials) -> Result<PathBuf, Failure> {
    let path = file()?;
    let parent = path.parent().expect("a file in a directory");
    let io = |e: std::io::Error| Failure::new(Exit::Failure, format!("{}: {e}", path.display()));
    std::fs::create_dir_all(parent).map_err(io)?;
    let staged = parent.join(format!(".credentials.{}.json", std::process::id()));
    let mut f = open_private(&staged).map_err(io)?;
    f.write_all(&serde_json::to_vec_pretty(c).expect("credentials serialize"))
        .and_then(|()| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&staged, &path).map_err(io)?;
    Ok(path)
}

#[cfg(unix)]
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// Forgets the saved credentials; returns whether there were any.
pub fn forget() -> Result<bool, Failure> {
    let path = file()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::new(
            Exit::Failure,
            format!("{}: {e}", path.display()),
        )),
    }
}

/// The registry and token to use: `SIGNET_URL` and `SIGNET_TOKEN` where set,
/// the saved credentials otherwise.
pub fn current() -> Result<Credentials, Failure> {
    let saved: Option<Credentials> = match std::fs::read(file()?) {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(_) => None,
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let server = env("SIGNET_URL").or_else(|| saved.as_ref().map(|c| c.server.clone()));
    let token = env("SIGNET_TOKEN").or_else(|| saved.as_ref().map(|c| c.token.clone()));
    match (server, token) {
        (Some(server), Some(token)) => Ok(Credentials { server, token }),
        _ => Err(Failure::new(
            Exit::NotFoundOrDenied,
            "not signed in: run `signet login --server URL`, or set SIGNET_URL and SIGNET_TOKEN",
        )),
    }
}
