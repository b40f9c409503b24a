//! `signet push`: a training pipeline's upload. Every file of a directory is
//! hashed here, uploaded with its digest for the registry to check, the
//! version sealed, and, with `--sign`, the statement the registry answers is
//! checked against what was hashed here before it is signed: a registry that
//! lists other files or digests gets no signature.

use std::collections::BTreeMap;
use std::path::Path;

use futures::TryStreamExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::journal::Journal;
use super::local::{
    Hashed, Listed, hash_file, hash_files, io_failure, list_files, read_named, read_private_key,
};
use super::outcome::{Done, to_json};
use super::progress::Progress;
use super::{Client, Exit, Failure};
use crate::api::{CreateVersion, SealView, SignatureAccepted, VersionView, paths};
use crate::kinds::VersionState;
use crate::names::{ModelRef, Sha256, VersionNumber};
use crate::signing::signer::PrivateKey;
use crate::signing::statement::Resource;

fn read_json<T: DeserializeOwned + Default>(path: Option<&Path>, what: &str) -> Result<T, Failure> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = read_named(path)?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| Failure::usage(format!("{} ({what}): {e}", path.display())))?;
    if !v.is_object() {
        return Err(Failure::usage(format!(
            "{} ({what}) must hold a JSON object",
            path.display()
        )));
    }
    // Read again as its type, so a field that breaks its rule is reported at
    // its line and column in the user's file, before anything is uploaded.
    serde_json::from_slice(&text)
        .map_err(|e| Failure::usage(format!("{} ({what}): {e}", path.display())))
}

/// Files larger than this go through resumable uploads (an interruption
/// resumes from the last committed part); smaller ones are sent whole. One part
/// of the registry's resumable uploads (the session answers its `part_size`).
const RESUMABLE_FROM: u64 = 8 << 20;

/// What `signet push` takes beside the directory and the model.
pub struct PushOptions<'a> {
    pub lineage: Option<&'a Path>,
    pub metadata: Option<&'a Path>,
    /// A private key to sign the sealed version with.
    pub sign: Option<&'a Path>,
    /// Files uploaded at once.
    pub jobs: usize,
    pub progress: bool,
}

/// `signet push DIR NS/MODEL [--lineage F] [--metadata F] [--sign KEY] [--jobs N]`.
pub async fn push(
    client: &Client,
    dir: &Path,
    model: &str,
    o: &PushOptions<'_>,
) -> Result<Done, Failure> {
    let target = super::model_ref(model)?;
    let key = o.sign.map(read_private_key).transpose()?;
    if let Some(key) = &key {
        // Before a byte is sent: a key the namespace would not trust leaves
        // nothing behind.
        check_key(client, key, &target).await?;
    }
    let body = CreateVersion {
        lineage: read_json(o.lineage, "lineage")?,
        metadata: read_json::<serde_json::Map<String, Value>>(o.metadata, "metadata")?.into(),
    };
    let listed = files_to_push(dir)?;
    let digests = small_digests(&listed)?;
    let journal = Journal::of(&client.base, model, &to_json(&body), &listed)?;
    let (version, present) = draft(client, &target, &body, &journal).await?;
    let total: u64 = listed.iter().map(|r| r.size).sum();
    let progress = Progress::new(o.progress, total, "push");
    let sending = Sending {
        client,
        model: &target,
        version,
        journal: &journal,
        present: &present,
        digests: &digests,
        progress: &progress,
    };
    let sent = sending.all(&listed, o.jobs).await?;
    let files: Vec<Resource> = listed
        .iter()
        .map(|f| Resource {
            path: f.name.clone(),
            size: f.size,
            sha256: sent[f.name.as_str()],
        })
        .collect();
    progress.finish();
    let _: SealView = client
        .exchange(Method::POST, &paths::seal(&target, version), None::<&()>)
        .await?;
    journal.forget();
    let signed = match (key, o.sign) {
        (Some(key), Some(path)) => {
            let signed = sign_sealed(client, &target, version, &files, &key).await;
            Some(signed.map_err(|f| Failure {
                message: format!(
                    "{target}@{version} is sealed but not signed: {}; sign it with `signet sign \
                     {target}@{version} --key {}`",
                    f.message,
                    path.display()
                ),
                ..f
            })?)
        }
        _ => None,
    };
    Ok(pushed(&target, version, &files, signed))
}

/// Every file of the directory to push (at least one).
fn files_to_push(dir: &Path) -> Result<Vec<Listed>, Failure> {
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let listed = list_files(dir, None).map_err(|f| Failure::usage(f.message))?;
    if listed.is_empty() {
        return Err(Failure::usage(format!("{} holds no file", dir.display())));
    }
    Ok(listed)
}

/// The digests of the files sent whole, hashed first (their digest goes with
/// them, for the registry to check before it keeps them); large ones are
/// hashed as they are sent, and their digest goes with the upload's
/// completion.
fn small_digests(listed: &[Listed]) -> Result<BTreeMap<&str, Sha256>, Failure> {
    let small: Vec<&Listed> = listed.iter().filter(|f| f.size <= RESUMABLE_FROM).collect();
    let paths: Vec<&Path> = small.iter().map(|f| f.path.as_path()).collect();
    let mut digests = BTreeMap::new();
    for (f, hashed) in small.iter().zip(hash_files(&paths)) {
        digests.insert(f.name.as_str(), digest_of(f, hashed)?);
    }
    Ok(digests)
}

/// What a push did.
fn pushed(
    model: &ModelRef,
    version: VersionNumber,
    files: &[Resource],
    signed: Option<String>,
) -> Done {
    let bytes: u64 = files.iter().map(|r| r.size).sum();
    Done {
        human: format!(
            "{model}@{version}: {} files, {bytes} bytes, sealed{}",
            files.len(),
            signed
                .as_deref()
                .map(|k| format!(", signed by {k}"))
                .unwrap_or_default()
        ),
        json: json!({
            "model": model.to_string(), "version": version, "files": files.len(),
            "bytes": bytes, "signed_by": signed,
        }),
    }
}

/// The draft version this push uploads into: the one the same push made before
/// it was interrupted (the journal names it), with the files it already holds,
/// or a new one.
async fn draft(
    client: &Client,
    model: &ModelRef,
    body: &CreateVersion,
    journal: &Journal,
) -> Result<(VersionNumber, BTreeMap<String, String>), Failure> {
    if let Some(v) = journal.version().and_then(|v| VersionNumber::new(v).ok())
        && let Ok(found) = client.get::<VersionView>(&paths::version(model, v)).await
        && found.summary.state == VersionState::Draft.as_str()
    {
        let present = found.files.into_iter().map(|f| (f.path, f.sha256));
        return Ok((v, present.collect()));
    }
    let created: VersionView = client
        .exchange(Method::POST, &paths::versions(model), Some(body))
        .await?;
    let v = VersionNumber::new(created.summary.version)
        .map_err(|_| Failure::new(Exit::Failure, "the registry named no version"))?;
    journal.begin(v.get())?;
    Ok((v, BTreeMap::new()))
}

/// What sending a push's files needs: where they go, what is already there,
/// the digests computed before sending, and the progress to draw.
struct Sending<'a> {
    client: &'a Client,
    model: &'a ModelRef,
    version: VersionNumber,
    journal: &'a Journal,
    present: &'a BTreeMap<String, String>,
    digests: &'a BTreeMap<&'a str, Sha256>,
    progress: &'a Progress,
}

impl Sending<'_> {
    /// Sends every file, `jobs` at once; answers each one's digest.
    async fn all<'f>(
        &self,
        listed: &'f [Listed],
        jobs: usize,
    ) -> Result<BTreeMap<&'f str, Sha256>, Failure> {
        futures::stream::iter(listed.iter().map(Ok))
            .map_ok(|r| self.one(r))
            .try_buffer_unordered(jobs.max(1))
            .try_collect()
            .await
    }

    /// Sends one file, unless the run this one goes on from already sent the
    /// same bytes: whole with its digest when small, resumably when large.
    async fn one<'f>(&self, r: &'f Listed) -> Result<(&'f str, Sha256), Failure> {
        let bar = self.progress.file(r.name.as_str(), r.size);
        let known = self.digests.get(r.name.as_str()).copied();
        if let Some(there) = self.present.get(r.name.as_str()) {
            let ours = match known {
                Some(d) => d,
                None => hash_local(r).await?,
            };
            if &ours.to_hex() == there {
                bar.advance(r.size);
                bar.finish();
                return Ok((r.name.as_str(), ours));
            }
        }
        let digest = match known {
            Some(digest) => {
                let url = paths::file(self.model, self.version, &r.name);
                let moved = bar.clone();
                self.client
                    .upload(&url, r.path.clone(), digest.to_hex(), move |n| {
                        moved.advance(n)
                    })
                    .await?;
                digest
            }
            None => {
                self.client
                    .upload_resumable(
                        &paths::uploads(self.model, self.version),
                        r.name.as_str(),
                        &r.path,
                        &bar,
                        self.journal,
                    )
                    .await?
            }
        };
        bar.finish();
        Ok((r.name.as_str(), digest))
    }
}

/// Whether the registry trusts `key` for the model's namespace now: registered,
/// in scope, not expired, not revoked.
async fn check_key(client: &Client, key: &PrivateKey, model: &ModelRef) -> Result<(), Failure> {
    let keyid =
        crate::names::KeyId::parse(&key.keyid()).map_err(|e| Failure::new(Exit::Failure, e.0))?;
    let ns = model.namespace.as_str();
    let refused = |why: String| {
        Failure::new(
            Exit::VerificationFailed,
            format!("--sign: key {keyid} {why}; nothing was uploaded"),
        )
    };
    let shown: crate::api::KeyView = match client.get(&paths::key(&keyid)).await {
        Ok(k) => k,
        Err(f) if f.exit == Exit::NotFoundOrDenied => {
            return Err(refused(format!(
                "is not registered for {ns} (register its public key with `signet key register \
                 KEY.pub --namespace {ns}`)"
            )));
        }
        Err(f) => return Err(f),
    };
    if let Some(reason) = &shown.revocation_reason {
        return Err(refused(format!("({}) was revoked as {reason}", shown.name)));
    }
    if shown.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
        return Err(refused(format!("({}) has expired", shown.name)));
    }
    if !shown.namespaces.iter().any(|n| n == "*" || n == ns) {
        return Err(refused(format!(
            "({}) is not trusted for {ns} (it is for {})",
            shown.name,
            shown.namespaces.join(", ")
        )));
    }
    Ok(())
}

/// Signs the sealed version's statement here, after checking that it lists
/// exactly the files and digests this push hashed; answers the key's id.
async fn sign_sealed(
    client: &Client,
    model: &ModelRef,
    version: VersionNumber,
    files: &[Resource],
    key: &PrivateKey,
) -> Result<String, Failure> {
    let statement = client.get_bytes(&paths::statement(model, version)).await?;
    check_statement(&statement, files)?;
    let accepted: SignatureAccepted = client
        .exchange(
            Method::POST,
            &paths::signatures(model, version),
            Some(&key.envelope(&statement)),
        )
        .await?;
    Ok(accepted.keyid.to_string())
}

/// A listed file's digest from its hashing, unless it changed since it was
/// listed.
fn digest_of(f: &Listed, hashed: Hashed) -> Result<Sha256, Failure> {
    let (size, digest) = hashed.map_err(|e| io_failure(&f.path, e))?;
    if size != f.size {
        return Err(Failure::new(
            Exit::Failure,
            format!("{}: changed while it was pushed", f.path.display()),
        ));
    }
    Ok(digest)
}

/// A listed file's digest, read here (on a thread of its own).
async fn hash_local(f: &Listed) -> Result<Sha256, Failure> {
    let path = f.path.clone();
    let hashed = tokio::task::spawn_blocking(move || hash_file(&path))
        .await
        .map_err(|e| Failure::new(Exit::Failure, format!("hashing: {e}")))?;
    digest_of(f, hashed)
}

/// The statement the registry gives to sign must list exactly the files
/// hashed here, with their sizes and digests.
fn check_statement(statement: &[u8], files: &[Resource]) -> Result<(), Failure> {
    /// What of the statement this check reads: its resources.
    #[derive(serde::Deserialize)]
    struct Listing {
        predicate: Listed,
    }
    #[derive(serde::Deserialize)]
    struct Listed {
        resources: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        digest: String,
        size: u64,
    }
    let st: Listing = serde_json::from_slice(statement).map_err(|_| {
        Failure::new(
            Exit::VerificationFailed,
            "the statement does not list resources",
        )
    })?;
    let listed: BTreeMap<&str, (&str, u64)> = st
        .predicate
        .resources
        .iter()
        .map(|r| (r.name.as_str(), (r.digest.as_str(), r.size)))
        .collect();
    let ours: BTreeMap<&str, (String, u64)> = files
        .iter()
        .map(|r| (r.path.as_str(), (r.sha256.to_hex(), r.size)))
        .collect();
    let same = listed.len() == ours.len()
        && st.predicate.resources.len() == ours.len()
        && listed
            .iter()
            .all(|(n, (d, s))| ours.get(n).is_some_and(|(od, os)| od == d && os == s));
    if !same {
        return Err(Failure::new(
            Exit::VerificationFailed,
            "the statement to sign does not list exactly the files uploaded: not signed",
        ));
    }
    Ok(())
}
