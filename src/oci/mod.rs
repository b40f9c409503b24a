//! The OCI face's domain: a read-only OCI Distribution view of the registry.
//! Each repository (`namespace/model`) shows the sealed versions its caller may
//! pull now, as ModelPack manifests (`artifact`), tagged with their aliases and
//! `v<N>`; signatures are referrers.
//!
//! Dependency rule: handlers call [`Distribution`] with a [`DownloadPermit`];
//! it asks `Trust` what the caller may pull (the same deployer rules as `/v1`
//! downloads, checked on every request) and serves file bytes through
//! `Trust::download` (quota, access log, bytes checked on the way out). It
//! never reaches the store.

pub mod artifact;
mod reference;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::names::{AliasName, ModelName, ModelRef, Sha256, VersionNumber};
use crate::page::Page;
use crate::registry::{Download, RangeSpec, Registry};
use crate::trust::{DownloadPermit, Fetched, Pullable, Trust};
pub use artifact::{Artifact, Object};
pub use reference::{Digest, Reference, Tag};

/// What the OCI face says is not there (each has its OCI error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Repository,
    Manifest,
    Blob,
}

/// An OCI request's failure: something unknown, or a domain error.
#[derive(Debug)]
pub enum OciError {
    Unknown(Unknown),
    Failed(Error),
}

impl From<Error> for OciError {
    fn from(e: Error) -> Self {
        match e {
            // A model that is not there reads as a repository that is not, a
            // version (a tag `v<N>` asked for) as a manifest that is not.
            Error::Missing(what) if what.starts_with("model ") => {
                Self::Unknown(Unknown::Repository)
            }
            Error::Missing(what) if what.starts_with("version ") => {
                Self::Unknown(Unknown::Manifest)
            }
            e => Self::Failed(e),
        }
    }
}

pub type OciResult<T> = std::result::Result<T, OciError>;

/// A blob's answer: bytes made here (a config, a bundle), or a file's.
pub enum Blob {
    /// Made here; with the range asked for, resolved (`(range, total)`).
    Inline(Object, Option<(std::ops::Range<u64>, u64)>),
    File(Download),
    /// A `HEAD` of a file: what its headers say, nothing read or charged.
    FileHead {
        size: u64,
    },
    /// A file's bytes at a presigned URL of the object store.
    Redirect(String),
}

/// A page of names (tags, repositories) and whether more follow.
pub struct Names {
    pub names: Vec<String>,
    pub more: bool,
}

/// The OCI face's service: one per process.
pub struct Distribution {
    registry: Arc<Registry>,
    trust: Arc<Trust>,
    /// Which version a digest was last seen in, per repository: where a pull
    /// by digest looks first (the content is a function of the version, so
    /// the hint can only be stale, never wrong; it is checked as any pull).
    seen: Mutex<HashMap<(ModelRef, Sha256), VersionNumber>>,
}

impl Distribution {
    /// Most entries of the digest hints before they are dropped.
    const MAX_SEEN: usize = 65_536;

    pub fn new(registry: Arc<Registry>, trust: Arc<Trust>) -> Self {
        Self {
            registry,
            trust,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Repositories the caller may see, in order, `n` after `last`. A registry
    /// token lists only those it covers.
    pub async fn catalog(&self, p: &Principal, n: u32, last: Option<&str>) -> Result<Names> {
        let page = Page::starting_after(n, last)?;
        let models = self.registry.models(p, None, &page).await?;
        let more = models.next_cursor.is_some();
        let names = models
            .items
            .into_iter()
            .map(|m| ModelRef {
                namespace: m.namespace,
                name: m.name,
            })
            .filter(|m| p.covers(m))
            .map(|m| m.to_string())
            .collect();
        Ok(Names { names, more })
    }

    /// The tags of a repository the caller may pull now, in lexical order, `n`
    /// after `last`: `v<N>` for each version, and each alias that points at
    /// one (an alias spelled like a version tag is not offered).
    pub async fn tags(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        n: usize,
        last: Option<&str>,
    ) -> OciResult<Names> {
        let model = permit.model(&self.registry, name).await?;
        let pulls = self.pullable_numbers(permit, name).await?;
        let mut tags: Vec<String> = pulls.iter().map(|v| Tag::of_version(*v)).collect();
        for (alias, v) in &model.aliases {
            if !Tag::looks_like_version(alias.as_str()) && pulls.contains(v) {
                tags.push(alias.to_string());
            }
        }
        tags.sort();
        let after: Vec<String> = tags
            .into_iter()
            .filter(|t| last.is_none_or(|l| t.as_str() > l))
            .collect();
        Ok(Names {
            more: after.len() > n,
            names: after.into_iter().take(n).collect(),
        })
    }

    /// A manifest by tag or digest: a version's ModelPack manifest, or a
    /// signature's referrer manifest. A version the caller may not pull is
    /// refused with every reason when asked by tag; by digest it is unknown.
    pub async fn manifest(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        reference: &Reference,
    ) -> OciResult<Object> {
        let number = match reference {
            Reference::Digest(d) => {
                let found = self.find(permit, name, d, |a, sha| {
                    std::iter::once(&a.manifest)
                        .chain(a.referrers.iter().map(|r| &r.manifest))
                        .find(|o| o.digest == sha)
                        .cloned()
                });
                return found.await?.ok_or(OciError::Unknown(Unknown::Manifest));
            }
            Reference::Tag(t) => self.resolve(permit, name, t).await?,
        };
        let pull = self.trust.pullable(permit, name, number).await?;
        let pull = pull.map_err(|r| {
            permit.refused(crate::api::refusals::codes(&r));
            OciError::Failed(Error::PullRefused(r))
        })?;
        Ok(self.artifact(permit, &pull).manifest)
    }

    /// The version a tag names, if any.
    async fn resolve(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        tag: &Tag,
    ) -> OciResult<VersionNumber> {
        if let Some(v) = tag.version() {
            return Ok(v);
        }
        let model = permit.model(&self.registry, name).await?;
        let alias = AliasName::parse(tag.as_str()).ok();
        model
            .aliases
            .iter()
            .find(|(a, _)| Some(a) == alias.as_ref())
            .map(|(_, v)| *v)
            .ok_or(OciError::Unknown(Unknown::Manifest))
    }

    /// The referrers of a manifest (its signatures), of one artifact type or
    /// all; a subject that is not here has none.
    pub async fn referrers(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> OciResult<Object> {
        let found = self.find(permit, name, subject, |a, sha| {
            (a.manifest.digest == sha).then(|| a.referrers_index(artifact_type))
        });
        Ok(found.await?.unwrap_or_else(artifact::empty_index))
    }

    /// A blob of a version the caller may pull: a file (through the download
    /// path of `/v1`: quota, access log, bytes checked), a config, a bundle.
    pub async fn blob(
        &self,
        by: &Principal,
        permit: &DownloadPermit,
        name: &ModelName,
        digest: &Digest,
        range: Option<RangeSpec>,
        head: bool,
    ) -> OciResult<Blob> {
        let found = self
            .find(permit, name, digest, blob_in)
            .await?
            .ok_or(OciError::Unknown(Unknown::Blob))?;
        match found {
            Found::Inline(o) => {
                let total = o.bytes.len() as u64;
                let range = range.map(|r| r.resolve(total)).transpose()?;
                Ok(Blob::Inline(o, range.map(|r| (r, total))))
            }
            Found::File(_, _, size) if head => Ok(Blob::FileHead { size }),
            Found::File(number, path, _) => {
                // OCI clients check every layer's digest: a redirect is fine.
                let t = &self.trust;
                match t
                    .fetch(by, permit, name, number, &path, range, true)
                    .await?
                {
                    Fetched::Redirect(p) => Ok(Blob::Redirect(p.url)),
                    Fetched::Bytes(d) => Ok(Blob::File(d)),
                }
            }
        }
    }

    /// The numbers of the sealed versions the caller may pull now (no
    /// bundles made), newest first.
    async fn pullable_numbers(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
    ) -> Result<Vec<VersionNumber>> {
        let mut out = Vec::new();
        for v in self.sealed(permit, name).await? {
            if self.trust.may_pull(permit, name, v).await? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// The numbers of a model's sealed versions, newest first.
    async fn sealed(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
    ) -> Result<Vec<VersionNumber>> {
        let mut out = Vec::new();
        let mut page = Page::parse(Some(Page::MAX_LIMIT), None)?;
        loop {
            let versions = permit.versions(&self.registry, name, &page).await?;
            let sealed = versions.items.iter().filter(|v| v.is_sealed());
            out.extend(sealed.map(|v| v.version));
            match versions.next_cursor {
                Some(c) => page = Page::parse(Some(Page::MAX_LIMIT), Some(&c))?,
                None => return Ok(out),
            }
        }
    }

    /// Looks for `digest` in the content of the versions the caller may pull:
    /// first in the version it was last seen in, then in each, newest first.
    /// A digest of another algorithm than SHA-256 is in none (the repository
    /// must still exist).
    async fn find<T>(
        &self,
        permit: &DownloadPermit,
        name: &ModelName,
        digest: &Digest,
        pick: impl Fn(&Artifact, Sha256) -> Option<T>,
    ) -> OciResult<Option<T>> {
        let Some(sha) = digest.sha256() else {
            permit.model(&self.registry, name).await?;
            return Ok(None);
        };
        let repo = ModelRef {
            namespace: permit.namespace().clone(),
            name: name.clone(),
        };
        let hint = self.lock().get(&(repo, sha)).copied();
        if let Some(number) = hint
            && let Ok(pull) = self.trust.pullable(permit, name, number).await?
            && let Some(found) = pick(&self.artifact(permit, &pull), sha)
        {
            return Ok(Some(found));
        }
        // Listing the versions names a repository that is not there.
        for number in self.sealed(permit, name).await? {
            if let Ok(pull) = self.trust.pullable(permit, name, number).await?
                && let Some(found) = pick(&self.artifact(permit, &pull), sha)
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// A pullable version's content; every digest in it is noted as seen there.
    fn artifact(&self, permit: &DownloadPermit, pull: &Pullable) -> Artifact {
        let v = &pull.details.version;
        let repo = v.model_ref();
        let a = Artifact::of(&repo, pull);
        debug_assert_eq!(&repo.namespace, permit.namespace());
        let digests = [a.manifest.digest, a.config.digest]
            .into_iter()
            .chain(a.layers.iter().map(|l| l.sha256))
            .chain(
                a.referrers
                    .iter()
                    .flat_map(|r| [r.manifest.digest, r.bundle.digest]),
            );
        let mut seen = self.lock();
        if seen.len() > Self::MAX_SEEN {
            seen.clear();
        }
        for d in digests {
            seen.insert((repo.clone(), d), v.version);
        }
        a
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ModelRef, Sha256), VersionNumber>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a blob was found in a version's content.
enum Found {
    Inline(Object),
    File(VersionNumber, crate::names::FilePath, u64),
}

fn blob_in(a: &Artifact, sha: Sha256) -> Option<Found> {
    if a.config.digest == sha {
        return Some(Found::Inline(a.config.clone()));
    }
    for r in &a.referrers {
        if r.bundle.digest == sha {
            return Some(Found::Inline(r.bundle.clone()));
        }
    }
    let empty = Object::empty();
    if !a.referrers.is_empty() && empty.digest == sha {
        return Some(Found::Inline(empty));
    }
    a.layers
        .iter()
        .find(|l| l.sha256 == sha)
        .map(|l| Found::File(a.version, l.path.clone(), l.size))
}
