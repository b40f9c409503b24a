//! The client's commands. Each returns what it did as JSON (printed as is with
//! `--json`) and a line for people.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use reqwest::Method;
use serde_json::json;

use super::config::{self, Credentials};
use super::local::{read_named_text, read_private_key};
use super::outcome::to_json;
pub use super::outcome::{Done, report};
use super::{Client, Exit, Failure, Target};
use crate::api::{KeyView, MoveAlias, RegisterKey, SignatureAccepted, VersionView, WhoAmI, paths};
use crate::kinds::{Algorithm, BindingScope};
use crate::names::{KeyName, PublicKeyText, Reason};
use crate::signing::keys::parse_public_key;
use crate::signing::signer::PrivateKey;

pub(super) fn signed_in() -> Result<Client, Failure> {
    let c = config::current()?;
    Client::new(&c.server, &c.token)
}

/// Reads the token from stdin: with a hidden prompt on a terminal, else the
/// first line (`echo "$TOKEN" | signet login …`).
fn read_token() -> Result<String, Failure> {
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("API token: ")
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the token: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::new(Exit::Failure, format!("reading the token: {e}")))?;
        line
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::usage("no token on stdin"));
    }
    Ok(token)
}

/// `signet login --server URL`: checks the token with the registry, then saves
/// it (mode 0600).
pub async fn login(server: &str) -> Result<Done, Failure> {
    let server = server_url(server)?;
    let token = read_token()?;
    let who: WhoAmI = Client::new(&server, &token)?.get(paths::WHOAMI).await?;
    let principal = who.principal;
    let path = config::save(&Credentials {
        server: server.clone(),
        token,
    })?;
    Ok(Done {
        human: format!(
            "signed in to {server} as {principal} (credentials in {})",
            path.display()
        ),
        json: json!({"server": server, "principal": principal, "credentials": path}),
    })
}

/// A registry's address as given to `login`: an http(s) URL, without a
/// trailing slash.
pub(super) fn server_url(server: &str) -> Result<String, Failure> {
    let url = url::Url::parse(server)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| Failure::usage(format!("{server:?} is not an http(s) URL")))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `signet logout`: forgets the saved token (it stays valid on the server:
/// revoke it there to end it).
pub fn logout() -> Result<Done, Failure> {
    let had = config::forget()?;
    Ok(Done {
        human: if had {
            "signed out; the token itself is still valid until revoked".into()
        } else {
            "not signed in".into()
        },
        json: json!({"signed_out": had}),
    })
}

/// `signet keygen --algorithm A --out NAME`: `NAME.key` (PKCS#8 PEM, 0600)
/// and `NAME.pub` (SPKI PEM). Existing files are never overwritten.
pub fn keygen(algorithm: &str, out: &Path) -> Result<Done, Failure> {
    let alg = Algorithm::parse(algorithm)
        .map_err(|_| Failure::usage(format!("unknown algorithm {algorithm:?}")))?;
    let key = PrivateKey::generate(alg).map_err(|e| Failure::usage(e.to_string()))?;
    let with = |ext: &str| {
        let mut p = out.as_os_str().to_owned();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    let (private, public) = (with(".key"), with(".pub"));
    write_new(&private, key.to_pem().as_bytes(), true)?;
    if let Err(e) = write_new(&public, key.public_pem().as_bytes(), false) {
        let _ = std::fs::remove_file(&private);
        return Err(e);
    }
    let keyid = key.keyid();
    Ok(Done {
        human: format!(
            "{} (keep it secret) and {}; key id {keyid}",
            private.display(),
            public.display()
        ),
        json: json!({"private_key": private, "public_key": public, "keyid": keyid, "algorithm": alg.as_str()}),
    })
}

/// Creates `path` with `bytes`; refuses to replace an existing file.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), Failure> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = o.open(path).map_err(|e| {
        let exit = if e.kind() == std::io::ErrorKind::AlreadyExists {
            Exit::Usage
        } else {
            Exit::Failure
        };
        Failure::new(exit, format!("{}: {e}", path.display()))
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))
}

/// `signet key register PUB --namespace NS… [--name N]`.
pub async fn key_register(
    public: &Path,
    namespaces: &[String],
    name: Option<&str>,
) -> Result<Done, Failure> {
    let pem = read_named_text(public)?;
    let parsed =
        parse_public_key(&pem).map_err(|e| Failure::usage(format!("{}: {e}", public.display())))?;
    if namespaces.is_empty() {
        return Err(Failure::usage("name at least one --namespace (or `*`)"));
    }
    let name = match name {
        Some(n) => n.to_owned(),
        None => public
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let body = RegisterKey {
        name: KeyName::parse(name.as_str()).map_err(|e| Failure::usage(format!("--name: {e}")))?,
        public_key: PublicKeyText::parse(parsed.pem)
            .map_err(|e| Failure::usage(format!("{}: {e}", public.display())))?,
        namespaces: namespaces
            .iter()
            .map(|n| {
                BindingScope::parse(n)
                    .map_err(|e| Failure::usage(format!("--namespace {n:?}: {e}")))
            })
            .collect::<Result<_, _>>()?,
        expires_at: None,
    };
    let client = signed_in()?;
    let key: KeyView = match client
        .exchange(Method::POST, paths::KEYS, Some(&body))
        .await
    {
        Ok(key) => key,
        // Registered already: no failure when it is as asked (a setup script
        // run again); a revoked key, or one registered otherwise, is.
        Err(f) if f.code.as_deref() == Some("conflict") => {
            let there: KeyView = client
                .get(&paths::key(&parsed.id))
                .await
                .map_err(|_| f.clone())?;
            let mut asked: Vec<String> = namespaces.to_vec();
            let mut has = there.namespaces.clone();
            asked.sort();
            has.sort();
            if there.revocation_reason.is_some() || there.name != name || has != asked {
                return Err(f);
            }
            return Ok(Done {
                human: format!(
                    "{name} is already registered for {}: key id {}",
                    has.join(", "),
                    there.keyid
                ),
                json: to_json(&there),
            });
        }
        Err(f) => return Err(f),
    };
    Ok(Done {
        human: format!(
            "registered {name} for {}: key id {}",
            namespaces.join(", "),
            key.keyid
        ),
        json: to_json(&key),
    })
}

/// `signet sign NS/MODEL@V --key KEY`: signs the version's statement here, with
/// a key that never leaves this machine, and uploads the signature.
pub async fn sign(target: &str, key: &Path) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let version = target.version()?;
    let key = read_private_key(key)?;
    let client = signed_in()?;
    let model = target.model_ref();
    let statement = client.get_bytes(&paths::statement(&model, version)).await?;
    let envelope = key.envelope(&statement);
    let accepted: SignatureAccepted = client
        .exchange(
            Method::POST,
            &paths::signatures(&model, version),
            Some(&envelope),
        )
        .await?;
    Ok(Done {
        human: format!(
            "signed {model}@{version} with key {}: {}",
            key.keyid(),
            accepted.status
        ),
        json: to_json(&accepted),
    })
}

/// `signet promote NS/MODEL@V ALIAS [--reason TEXT]`.
pub async fn promote(target: &str, alias: &str, reason: Option<&str>) -> Result<Done, Failure> {
    let target = Target::parse(target)?;
    let version = target.version()?;
    let alias = crate::names::AliasName::parse(alias)
        .map_err(|_| Failure::usage(format!("{alias:?} is not an alias name")))?;
    let body = MoveAlias {
        version,
        reason: Reason::parse(reason.unwrap_or_default())
            .map_err(|e| Failure::usage(format!("--reason: {e}")))?,
    };
    let model = target.model_ref();
    let answer: VersionView = signed_in()?
        .exchange(Method::PUT, &paths::alias(&model, &alias), Some(&body))
        .await?;
    Ok(Done {
        human: format!("{model}@{alias} → version {version}"),
        json: to_json(&answer),
    })
}

/// `signet pull NS/MODEL@ALIAS_OR_VERSION DIR --trust-key PUB… [--jobs N]`.
pub async fn pull(
    target: &str,
    dir: &Path,
    options: &super::pull::PullOptions<'_>,
) -> Result<Done, Failure> {
    super::pull::pull(&signed_in()?, target, dir, options).await
}

/// `signet audit search …`.
pub async fn audit_search(f: &super::records::AuditFilters, limit: usize) -> Result<Done, Failure> {
    super::records::search(&signed_in()?, f, limit).await
}

/// `signet audit export --out FILE …`.
pub async fn audit_export(f: &super::records::AuditFilters, out: &Path) -> Result<Done, Failure> {
    super::records::export(&signed_in()?, f, out).await
}

/// `signet audit verify [--file FILE …]`: offline with a file, else the
/// registry's own check.
pub async fn audit_verify(
    file: Option<&Path>,
    namespace: Option<&str>,
    pins: &super::records::Pins,
) -> Result<Done, Failure> {
    match file {
        Some(f) => super::records::verify_file(f, pins),
        None => super::records::verify_remote(&signed_in()?, namespace).await,
    }
}

/// `signet lineage dataset|commit|version VALUE`.
pub async fn lineage(kind: &str, value: &str) -> Result<Done, Failure> {
    super::records::lineage(&signed_in()?, kind, value).await
}

/// `signet push DIR NS/MODEL …`.
pub async fn push(
    dir: &Path,
    model: &str,
    options: &super::push::PushOptions<'_>,
) -> Result<Done, Failure> {
    super::push::push(&signed_in()?, dir, model, options).await
}

/// `signet verify DIR [--key PUB…] [--signature FILE] [--online]`.
pub async fn verify(
    dir: &Path,
    keys: &[std::path::PathBuf],
    signature: Option<&Path>,
    online: bool,
) -> Result<Done, Failure> {
    let client = match online {
        true => Some(signed_in()?),
        false => None,
    };
    super::verify::verify_dir(dir, keys, signature, client.as_ref()).await
}
