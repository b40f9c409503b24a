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
use super::pull::local_files;
use super::{Client, Exit, Failure};
use crate::names::ModelRef;
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
/// resumes from the last committed part); smaller ones are sent whole.
const RESUMABLE_FROM: u64 = crate::registry::UPLOAD_PART;

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
    let files = local_files(dir, None).map_err(|f| Failure::usage(f.message))?;
    if files.is_empty() {
        return Err(Failure::usage(format!("{} holds no file", dir.display())));
    }

    let base = format!("/v1/models/{ns}/{name}/versions");
    // The same push run before and interrupted goes on with its draft.
    let journal = Journal::of(&client.base, model, &body, &files)?;
    let mut present = BTreeMap::new();
    let earlier = match journal.version() {
        Some(v) => match client.call(Method::GET, &format!("{base}/{v}"), None).await {
            Ok(a) if a.body["state"] == "draft" => {
                for f in a.body["files"].as_array().into_iter().flatten() {
                    if let (Some(p), Some(d)) = (f["path"].as_str(), f["sha256"].as_str()) {
                        present.insert(p.to_owned(), d.to_owned());
                    }
                }
                Some(v)
            }
            _ => None,
        },
        None => None,
    };
    let version = match earlier {
        Some(v) => v,
        None => {
            let created = client.call(Method::POST, &base, Some(&body)).await?;
            let v = created.body["version"]
                .as_i64()
                .ok_or_else(|| Failure::new(Exit::Failure, "the registry named no version"))?;
            journal.begin(v)?;
            v
        }
    };
    let vbase = format!("{base}/{version}");
    let total: u64 = files.iter().map(|r| r.size).sum();
    let progress = Progress::new(show_progress, total, "push");
    futures::stream::iter(files.iter().map(Ok))
        .try_for_each_concurrent(jobs.max(1), |r| {
            let url = format!("{vbase}/files/{}", r.path.as_str());
            let progress = &progress;
            let (vbase, journal, present) = (&vbase, &journal, &present);
            async move {
                let bar = progress.file(r.path.as_str(), r.size);
                let digest = r.sha256.to_hex();
                if present.get(r.path.as_str()) == Some(&digest) {
                    // Uploaded by the run this one goes on from.
                    bar.advance(r.size);
                    bar.finish();
                    return Ok(());
                }
                let local = dir.join(r.path.as_str());
                if r.size > RESUMABLE_FROM {
                    client
                        .upload_resumable(vbase, r.path.as_str(), &local, &digest, &bar, journal)
                        .await?;
                } else {
                    let moved = bar.clone();
                    client
                        .upload(&url, local, digest, move |n| moved.advance(n))
                        .await?;
                }
                bar.finish();
                Ok(())
            }
        })
        .await?;
    progress.finish();
    client
        .call(Method::POST, &format!("{vbase}/seal"), None)
        .await?;
    journal.forget();

    let mut signed = None;
    if let Some(key) = key {
        let statement = client.get_bytes(&format!("{vbase}/statement")).await?;
        check_statement(&statement, &files)?;
        let answer = client
            .call(
                Method::POST,
                &format!("{vbase}/signatures"),
                Some(&key.envelope(&statement)),
            )
            .await?;
        signed = answer.body["keyid"].as_str().map(str::to_owned);
    }
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
