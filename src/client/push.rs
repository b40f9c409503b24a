//! `signet push`: a training pipeline's upload. Every file of a directory is
//! hashed here, uploaded with its digest for the registry to check, the
//! version sealed, and, with `--sign`, the statement the registry answers is
//! checked against what was hashed here before it is signed: a registry that
//! lists other files or digests gets no signature.

use std::collections::BTreeMap;
use std::path::Path;

use futures::TryStreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use super::commands::{Done, read_private_key};
use super::journal::Journal;
use super::progress::Progress;
use super::pull::{Hashed, Listed, hash_file, hash_files, io_failure, list_files};
use super::{Client, Exit, Failure};
use crate::names::{ModelRef, Sha256};
use crate::signing::signer::PrivateKey;
use crate::signing::statement::Resource;

fn read_json(path: Option<&Path>, what: &str) -> Result<Value, Failure> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let text = std::fs::read(path)
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| Failure::usage(format!("{} ({what}): {e}", path.display())))?;
    if !v.is_object() {
        return Err(Failure::usage(format!(
            "{} ({what}) must hold a JSON object",
            path.display()
        )));
    }
    Ok(v)
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
    let PushOptions {
        lineage,
        metadata,
        sign,
        jobs,
        progress: show_progress,
    } = *o;
    let ModelRef {
        namespace: ns,
        name,
    } = super::model_ref(model)?;
    let key = sign.map(read_private_key).transpose()?;
    let body = json!({
        "lineage": read_json(lineage, "lineage")?,
        "metadata": read_json(metadata, "metadata")?,
    });
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
    // Files sent whole are hashed first (their digest goes with them, for the
    // registry to check before it keeps them); large ones are hashed as they
    // are sent, and their digest goes with the upload's completion.
    let small: Vec<&Listed> = listed.iter().filter(|f| f.size <= RESUMABLE_FROM).collect();
    let paths: Vec<&Path> = small.iter().map(|f| f.path.as_path()).collect();
    let mut digests: BTreeMap<&str, Sha256> = BTreeMap::new();
    for (f, hashed) in small.iter().zip(hash_files(&paths)) {
        digests.insert(f.name.as_str(), digest_of(f, hashed)?);
    }

    let base = format!("/v1/models/{ns}/{name}/versions");
    let journal = Journal::of(&client.base, model, &body, &listed)?;
    let (version, present) = draft(client, &base, &body, &journal).await?;
    let vbase = format!("{base}/{version}");
    let total: u64 = listed.iter().map(|r| r.size).sum();
    let progress = Progress::new(show_progress, total, "push");
    let sending = Sending {
        client,
        vbase: &vbase,
        journal: &journal,
        present: &present,
        digests: &digests,
        progress: &progress,
    };
    let sent = sending.all(&listed, jobs).await?;
    let files: Vec<Resource> = listed
        .iter()
        .map(|f| Resource {
            path: f.name.clone(),
            size: f.size,
            sha256: sent[f.name.as_str()],
        })
        .collect();
    progress.finish();
    client
        .call(Method::POST, &format!("{vbase}/seal"), None)
        .await?;
    journal.forget();

    let signed = match key {
        Some(key) => sign_sealed(client, &vbase, &files, &key).await?,
        None => None,
    };
    let bytes: u64 = files.iter().map(|r| r.size).sum();
    Ok(Done {
        human: format!(
            "{ns}/{name}@{version}: {} files, {bytes} bytes, sealed{}",
            files.len(),
            signed
                .as_deref()
                .map(|k| format!(", signed by {k}"))
                .unwrap_or_default()
        ),
        json: json!({
            "model": format!("{ns}/{name}"), "version": version, "files": files.len(),
            "bytes": bytes, "signed_by": signed,
        }),
    })
}

/// The draft version this push uploads into: the one the same push made before
/// it was interrupted (the journal names it), with the files it already holds,
/// or a new one.
async fn draft(
    client: &Client,
    base: &str,
    body: &Value,
    journal: &Journal,
) -> Result<(i64, BTreeMap<String, String>), Failure> {
    let mut present = BTreeMap::new();
    if let Some(v) = journal.version()
        && let Ok(a) = client.call(Method::GET, &format!("{base}/{v}"), None).await
        && a.body["state"] == "draft"
    {
        for f in a.body["files"].as_array().into_iter().flatten() {
            if let (Some(p), Some(d)) = (f["path"].as_str(), f["sha256"].as_str()) {
                present.insert(p.to_owned(), d.to_owned());
            }
        }
        return Ok((v, present));
    }
    let created = client.call(Method::POST, base, Some(body)).await?;
    let v = created.body["version"]
        .as_i64()
        .ok_or_else(|| Failure::new(Exit::Failure, "the registry named no version"))?;
    journal.begin(v)?;
    Ok((v, present))
}

/// What sending a push's files needs: where they go, what is already there,
/// the digests computed before sending, and the progress to draw.
struct Sending<'a> {
    client: &'a Client,
    vbase: &'a str,
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
                let url = format!("{}/files/{}", self.vbase, r.name.as_str());
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
                    .upload_resumable(self.vbase, r.name.as_str(), &r.path, &bar, self.journal)
                    .await?
            }
        };
        bar.finish();
        Ok((r.name.as_str(), digest))
    }
}

/// Signs the sealed version's statement here, after checking that it lists
/// exactly the files and digests this push hashed; answers the key's id.
async fn sign_sealed(
    client: &Client,
    vbase: &str,
    files: &[Resource],
    key: &PrivateKey,
) -> Result<Option<String>, Failure> {
    let statement = client.get_bytes(&format!("{vbase}/statement")).await?;
    check_statement(&statement, files)?;
    let answer = client
        .call(
            Method::POST,
            &format!("{vbase}/signatures"),
            Some(&key.envelope(&statement)),
        )
        .await?;
    Ok(answer.body["keyid"].as_str().map(str::to_owned))
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
    let st: Value = serde_json::from_slice(statement)
        .map_err(|_| Failure::new(Exit::VerificationFailed, "the statement is not JSON"))?;
    let listed: Option<BTreeMap<&str, (&str, u64)>> =
        st["predicate"]["resources"].as_array().map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    Some((
                        r["name"].as_str()?,
                        (r["digest"].as_str()?, r["size"].as_u64()?),
                    ))
                })
                .collect()
        });
    let ours: BTreeMap<&str, (String, u64)> = files
        .iter()
        .map(|r| (r.path.as_str(), (r.sha256.to_hex(), r.size)))
        .collect();
    let same = listed.is_some_and(|l| {
        l.len() == ours.len()
            && st["predicate"]["resources"].as_array().map(Vec::len) == Some(ours.len())
            && l.iter()
                .all(|(n, (d, s))| ours.get(n).is_some_and(|(od, os)| od == d && os == s))
    });
    if !same {
        return Err(Failure::new(
            Exit::VerificationFailed,
            "the statement to sign does not list exactly the files uploaded: not signed",
        ));
    }
    Ok(())
}
