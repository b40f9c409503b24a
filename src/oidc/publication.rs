//! What a publisher token carries: the publisher it was minted for and the
//! CI job's identity, which binds the lineage of the versions it creates.

use std::collections::BTreeMap;

use serde_json::Value;

/// A publisher token's standing: which publisher (`ns/name`), whether it
/// binds lineage to the job's commit, and the job's identity as
/// [`super::Identity::summary`] kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub publisher: String,
    pub bind_commit: bool,
    pub identity: BTreeMap<String, String>,
}

impl Publication {
    /// The identity as the access log records it with every event the token
    /// causes.
    pub fn identity_json(&self) -> Value {
        serde_json::to_value(&self.identity).unwrap_or_default()
    }

    /// What a version created with the token records of the job that made it.
    pub fn provenance(&self) -> Value {
        let mut p = self.identity.clone();
        p.insert("publisher".into(), self.publisher.clone());
        serde_json::to_value(p).unwrap_or_default()
    }

    /// Whether a version's claimed code (`lineage.code.repo`, `.commit`) is
    /// the job's: the commit equal to its `sha`, and the repository URL's path
    /// naming its repository (the host is not compared; `.git` and a trailing
    /// slash are ignored). Always true without `bind_commit`; otherwise the
    /// error names both values.
    pub fn bind(&self, repo: Option<&str>, commit: Option<&str>) -> Result<(), String> {
        if !self.bind_commit {
            return Ok(());
        }
        let shown = |v: Option<&str>| v.map_or("nothing".to_owned(), |v| format!("{v:?}"));
        let sha = self.identity.get("sha").map(String::as_str);
        let same_commit = matches!((commit, sha), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        if !same_commit {
            return Err(format!(
                "lineage.code.commit is {} but the CI identity's sha is {} (publisher {} binds \
                 a version to the commit its job ran on)",
                shown(commit),
                shown(sha),
                self.publisher
            ));
        }
        let ours = self.identity.get("repository").map(String::as_str);
        let named = repo.and_then(repository_path);
        let same = matches!((&named, ours), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        if !same {
            return Err(format!(
                "lineage.code.repo is {} but the CI identity's repository is {} (publisher {} \
                 binds a version to the repository its job ran in)",
                shown(repo),
                shown(ours),
                self.publisher
            ));
        }
        Ok(())
    }
}

/// The repository path a code URL names: `acme/train` for
/// `https://github.com/acme/train(.git)`, `git@github.com:acme/train.git` or
/// `ssh://git@host/acme/train`; a bare path as written. None when nothing is
/// left.
pub fn repository_path(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/').map(|(_, p)| p)?
    } else if let Some((host, rest)) = url.split_once(':')
        && !host.contains('/')
    {
        rest
    } else {
        url
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    (!path.is_empty()).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn publication(bind: bool) -> Publication {
        Publication {
            publisher: "ml/train".into(),
            bind_commit: bind,
            identity: BTreeMap::from([
                ("repository".into(), "acme/train".into()),
                ("sha".into(), SHA.into()),
            ]),
        }
    }

    #[test]
    fn a_repository_url_names_its_path_whatever_the_host_and_form() {
        for url in [
            "https://github.com/acme/train",
            "https://github.com/acme/train.git",
            "https://github.com/acme/train/",
            "https://ghe.example.com/acme/train.git",
            "git@github.com:acme/train.git",
            "ssh://git@github.com/acme/train",
            "acme/train",
        ] {
            assert_eq!(repository_path(url).as_deref(), Some("acme/train"), "{url}");
        }
        assert_eq!(
            repository_path("https://gitlab.com/group/sub/proj.git").as_deref(),
            Some("group/sub/proj")
        );
        assert_eq!(repository_path("https://github.com/"), None);
        assert_eq!(repository_path("https://github.com"), None);
    }

    #[test]
    fn the_commit_and_repository_must_be_the_jobs() {
        let p = publication(true);
        let repo = Some("https://github.com/acme/train");
        assert!(p.bind(repo, Some(SHA)).is_ok());
        assert!(p.bind(repo, Some(&SHA.to_uppercase())).is_ok());
        let other = "f".repeat(40);
        let e = p.bind(repo, Some(&other)).unwrap_err();
        assert!(e.contains(&other) && e.contains(SHA), "{e}");
        assert!(
            p.bind(repo, None).is_err(),
            "a missing commit is a mismatch"
        );
        assert!(
            p.bind(Some("https://github.com/acme/train-fork"), Some(SHA))
                .is_err()
        );
        assert!(
            p.bind(Some("https://github.com/evil/acme/train"), Some(SHA))
                .is_err()
        );
        assert!(
            p.bind(None, Some(SHA)).is_err(),
            "a missing repository is a mismatch"
        );
        assert!(publication(false).bind(None, None).is_ok());
    }
}
