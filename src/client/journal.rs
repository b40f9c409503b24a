//! What an unfinished `signet push` has done, so that running the same push
//! again goes on with it: the draft version it created and the resumable
//! uploads it started. A push is the same when the registry, the model, the
//! lineage and metadata, and every file's path, size and modification time
//! are (the files are not read to tell: a large file is hashed while it is
//! sent, and the registry checks the digest of every upload); a journal lives
//! in the configuration directory (`pushes/`) until its push seals.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::local::Listed;
use super::{Exit, Failure};

#[derive(Default, Serialize, Deserialize)]
struct Recorded {
    version: Option<i64>,
    /// File path → the upload's URL path.
    uploads: BTreeMap<String, String>,
}

pub struct Journal {
    path: PathBuf,
    state: std::sync::Mutex<Recorded>,
}

impl Journal {
    /// The journal of this push, as an earlier run left it (or empty).
    pub fn of(
        server: &str,
        model: &str,
        body: &serde_json::Value,
        files: &[Listed],
    ) -> Result<Self, Failure> {
        let mut h = sha2::Sha256::new();
        for part in [server, model, &body.to_string()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for f in files {
            h.update(format!("{}\0{}\0{}\0", f.name.as_str(), f.size, f.modified));
        }
        let path = super::config::dir()?
            .join("pushes")
            .join(format!("{}.json", hex::encode(h.finalize())));
        let state = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Self {
            path,
            state: std::sync::Mutex::new(state),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The draft version an earlier run created.
    pub fn version(&self) -> Option<i64> {
        self.state().version
    }

    /// The upload an earlier run started for `file`.
    pub fn upload(&self, file: &str) -> Option<String> {
        self.state().uploads.get(file).cloned()
    }

    /// Starts over with a new draft version.
    pub fn begin(&self, version: i64) -> Result<(), Failure> {
        let mut s = self.state();
        *s = Recorded {
            version: Some(version),
            uploads: BTreeMap::new(),
        };
        self.write(&s)
    }

    pub fn record_upload(&self, file: &str, url: &str) -> Result<(), Failure> {
        let mut s = self.state();
        s.uploads.insert(file.to_owned(), url.to_owned());
        self.write(&s)
    }

    /// The push is done: nothing to go on with.
    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Written beside its place and renamed over it: never half a journal.
    fn write(&self, s: &Recorded) -> Result<(), Failure> {
        let io = |e: std::io::Error| {
            Failure::new(Exit::Failure, format!("{}: {e}", self.path.display()))
        };
        let dir = self.path.parent().expect("a file in a directory");
        std::fs::create_dir_all(dir).map_err(io)?;
        let staged = self
            .path
            .with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(
            &staged,
            serde_json::to_vec(s).expect("a journal serializes"),
        )
        .map_err(io)?;
        std::fs::rename(&staged, &self.path).map_err(io)
    }
}
