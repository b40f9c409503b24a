//! The registry's keys at start-up. The transparency log's: from `SIGNET_LOG_KEY_FILE`; else,
//! with the embedded SQLite default, from the data directory (generated there
//! on first start); else none (PostgreSQL: a key kept beside the database
//! would let whoever writes the database sign its rewrite).

use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};

use crate::audit::Signing;
use crate::config::ServeConfig;
use crate::kinds::Algorithm;
use crate::signing::signer::PrivateKey;
use crate::tlog::note::{LogKey, valid_name};
use crate::trust::RecordSigner;

/// The key file the embedded default keeps in its data directory.
const EMBEDDED_KEY: &str = "log-key.pem";

/// The log's signing, and what start-up says of it. A key file that cannot
/// be read or is not an Ed25519 key stops start-up.
pub fn log_signing(cfg: &ServeConfig) -> anyhow::Result<Signing> {
    let origin = format!("{}/audit", cfg.registry_name);
    if !valid_name(&origin) {
        return Ok(Signing::Off(format!(
            "the registry's name {:?} cannot name a log (no spaces or '+')",
            cfg.registry_name
        )));
    }
    let key = match &cfg.log_key_file {
        Some(path) => read(path)?,
        None if cfg.storage.database_url()?.starts_with("sqlite:") => {
            let path = cfg.storage.data_dir.join(EMBEDDED_KEY);
            if !path.exists() {
                std::fs::create_dir_all(&cfg.storage.data_dir)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.storage.data_dir.display()))?;
                generate(&path)?;
                tracing::info!(path = %path.display(), "transparency log key generated");
            }
            read(&path)?
        }
        None => {
            return Ok(Signing::Off(
                "no SIGNET_LOG_KEY_FILE: with PostgreSQL the log key comes from a file \
                 (`signet keygen --algorithm ed25519` writes one), never from the database"
                    .into(),
            ));
        }
    };
    let key = LogKey::new(&origin, key)?;
    tracing::info!(verifier_key = %key.verifier_key(), "transparency log: auditors pin this key");
    Ok(Signing::Key(Box::new(key)))
}

fn read(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("SIGNET_LOG_KEY_FILE {}: {e}", path.display()))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| {
        anyhow::anyhow!(
            "SIGNET_LOG_KEY_FILE {}: not an Ed25519 private key in PKCS#8 PEM",
            path.display()
        )
    })
}

/// The key file of the registry's own key in the embedded default's data
/// directory.
const EMBEDDED_REGISTRY_KEY: &str = "registry-key.pem";

/// The signer of promotion records: the registry's key from
/// `SIGNET_REGISTRY_KEY_FILE`; else, with the embedded SQLite default, from
/// the data directory (an Ed25519 key generated there on first start: it signs
/// inside the move's transaction, where Ed25519 is the cheaper to sign with);
/// else none (PostgreSQL: a key kept beside the database would let whoever
/// writes the database sign records).
pub fn record_signer(cfg: &ServeConfig) -> anyhow::Result<Option<RecordSigner>> {
    let read = |path: &Path| -> anyhow::Result<PrivateKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("SIGNET_REGISTRY_KEY_FILE {}: {e}", path.display()))?;
        PrivateKey::from_pem(&text)
            .map_err(|e| anyhow::anyhow!("SIGNET_REGISTRY_KEY_FILE {}: {e}", path.display()))
    };
    let key = match &cfg.registry_key_file {
        Some(path) => read(path)?,
        None if cfg.storage.database_url()?.starts_with("sqlite:") => {
            let path = cfg.storage.data_dir.join(EMBEDDED_REGISTRY_KEY);
            if !path.exists() {
                std::fs::create_dir_all(&cfg.storage.data_dir)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.storage.data_dir.display()))?;
                let key = PrivateKey::generate(Algorithm::Ed25519)
                    .map_err(|e| anyhow::anyhow!("generating the registry key: {e}"))?;
                write_private(&path, key.to_pem().as_bytes())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "registry key generated");
            }
            read(&path)?
        }
        None => {
            tracing::warn!(
                "no SIGNET_REGISTRY_KEY_FILE: promotions are kept without signed records"
            );
            return Ok(None);
        }
    };
    let base = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://{}", cfg.registry_name));
    let signer = RecordSigner::new(key, &base);
    tracing::info!(keyid = %signer.published().keyid, "promotion records: verifiers pin this key");
    Ok(Some(signer))
}

/// Writes a new key, readable by its owner only.
fn generate(path: &Path) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let pem = SigningKey::from_bytes(&seed).to_pkcs8_pem(LineEnding::LF)?;
    write_private(path, pem.as_bytes()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

#[cfg(unix)]
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
