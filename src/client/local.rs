//! The files on this machine a command reads: a directory's files listed and
//! hashed (several at once), and a private key.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{Exit, Failure};
use crate::names::{FilePath, Sha256};
use crate::signing::keys::{PublicKey, parse_public_key};
use crate::signing::signer::PrivateKey;
use crate::signing::statement::Resource;

pub(super) fn unverified(message: impl Into<String>) -> Failure {
    Failure::new(Exit::VerificationFailed, message)
}

/// A regular file found under a directory: its name in a version, where it is,
/// and its size and modification time when listed.
pub struct Listed {
    pub name: FilePath,
    pub path: PathBuf,
    pub size: u64,
    /// Nanoseconds since the epoch (0 when the system does not say).
    pub modified: u128,
}

/// Every regular file under `dir` but the signature, not yet read. Symbolic
/// links are refused, as the statement's serialization says.
pub(super) fn list_files(dir: &Path, signature: Option<&Path>) -> Result<Vec<Listed>, Failure> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io_failure(&d, e))? {
            let entry = entry.map_err(|e| io_failure(&d, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| io_failure(&path, e))?;
            if kind.is_symlink() {
                return Err(unverified(format!(
                    "{}: a symbolic link (never part of a signed model)",
                    path.display()
                )));
            }
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if Some(path.as_path()) == signature {
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let name = FilePath::parse(&rel)
                .map_err(|_| unverified(format!("{rel}: not a name a version can hold")))?;
            let meta = entry.metadata().map_err(|e| io_failure(&path, e))?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            found.push(Listed {
                name,
                path,
                size: meta.len(),
                modified,
            });
        }
    }
    Ok(found)
}

pub(super) fn io_failure(p: &Path, e: std::io::Error) -> Failure {
    Failure::new(Exit::Failure, format!("{}: {e}", p.display()))
}

/// Every regular file under `dir` but the signature, hashed (several at once).
pub(super) fn local_files(dir: &Path, signature: Option<&Path>) -> Result<Vec<Resource>, Failure> {
    let found = list_files(dir, signature)?;
    let paths: Vec<&Path> = found.iter().map(|f| f.path.as_path()).collect();
    found
        .iter()
        .zip(hash_files(&paths))
        .map(|(f, hashed)| {
            let (size, sha256) = hashed.map_err(|e| io_failure(&f.path, e))?;
            Ok(Resource {
                path: f.name.clone(),
                size,
                sha256,
            })
        })
        .collect()
}

/// The size and SHA-256 of each file, hashed on every core at once (hashing is
/// the long part).
pub(super) fn hash_files(paths: &[&Path]) -> Vec<Hashed> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let hashed: Vec<std::sync::OnceLock<Hashed>> =
        paths.iter().map(|_| std::sync::OnceLock::new()).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let _ = hashed[i].set(hash_file(path));
                }
            });
        }
    });
    hashed
        .into_iter()
        .map(|h| {
            h.into_inner()
                .unwrap_or_else(|| Err(std::io::Error::other("not hashed")))
        })
        .collect()
}

/// A file's size and SHA-256, or why it could not be read.
pub(super) type Hashed = std::io::Result<(u64, Sha256)>;

/// A file's size and SHA-256.
pub(super) fn hash_file(path: &Path) -> Hashed {
    let (size, h) = hash_prefix(path)?;
    Ok((size, Sha256::from_bytes(h.finalize().into())))
}

/// The length of a partly downloaded file and the hash state of its bytes.
pub(super) fn hash_prefix(path: &Path) -> std::io::Result<(u64, sha2::Sha256)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((len, h));
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
}

/// A file the command line names, read whole: one that cannot be read is a
/// mistake on the command line (exit 2), like any other wrong argument.
pub(super) fn read_named(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// [`read_named`], as text.
pub(super) fn read_named_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read_named(path)?)
        .map_err(|_| Failure::usage(format!("{}: not text", path.display())))
}

/// The name of the signature beside a pulled directory's files.
pub const SIGNATURE_FILE: &str = "model.sig";

/// A public key (SPKI PEM) from a file.
pub(super) fn read_key(path: &Path) -> Result<PublicKey, Failure> {
    let pem = read_named_text(path)?;
    parse_public_key(&pem).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// A PKCS#8 PEM private key from a file.
pub(super) fn read_private_key(path: &Path) -> Result<PrivateKey, Failure> {
    let pem = read_named_text(path)?;
    PrivateKey::from_pem(&pem).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}
