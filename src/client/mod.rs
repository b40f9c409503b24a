//! The `signet` client: the commands a training pipeline, a deployer and an
//! auditor run against a registry. It speaks the public API over HTTP(S) and
//! signs with the same statement and PAE code the server verifies with.
//!
//! Dependency rule: no store, no domain services; only the API over HTTP and
//! the shared leaves (`signing`, `chain`, `names`, `kinds`). `tests/layers.rs`
//! checks it.

mod attest;
mod attested;
pub mod browse;
pub mod cli;
pub mod commands;
pub mod config;
pub mod journal;
mod listing;
mod local;
pub mod manage;
mod oidc;
pub mod outcome;
mod place;
pub mod progress;
pub mod pull;
pub mod push;
pub mod records;
mod revocation;
mod tlog;
mod transport;
pub mod verify;
pub mod webhooks;

pub use outcome::Done;
#[cfg(test)]
use transport::failure_of;
pub use transport::{Client, SentHash};

use std::fmt;

use serde_json::Value;

use crate::names::{AliasName, ModelName, ModelRef, Namespace, VersionNumber};

/// Exit codes, distinct per kind of failure so scripts can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: the server or the network failed, a file could not be
    /// read.
    Failure = 1,
    /// The command line is wrong (clap uses 2 for its own usage errors).
    Usage = 2,
    /// Not found, not signed in, or not allowed.
    NotFoundOrDenied = 3,
    /// Refused by the registry's policy (the promotion gate, a quarantine).
    RefusedByPolicy = 4,
    /// A signature or a digest did not verify.
    VerificationFailed = 5,
}

/// Why a command failed, with the exit code it ends with.
#[derive(Debug, Clone)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// The registry's error code, when it answered with one.
    pub code: Option<String>,
    /// Every reason, for refusals that give several.
    pub reasons: Vec<String>,
    /// Per reason, what failed and how to clear it (the gate's refusals).
    pub details: Vec<crate::api::Refusal>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            code: None,
            reasons: Vec::new(),
            details: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// What the command prints with `--json`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"error": {
            "exit_code": self.exit as i32,
            "code": self.code,
            "message": self.message,
            "reasons": self.reasons,
            "details": self.details,
        }})
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // With details, each reason is one line of its own: the message's
        // list of codes would say them twice.
        let message = match self.details.is_empty() {
            true => self.message.as_str(),
            false => self
                .message
                .split_once(": ")
                .map_or(&*self.message, |(m, _)| m),
        };
        write!(f, "{message}")?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if self.details.is_empty() {
            for r in &self.reasons {
                write!(f, "\n  - {r}")?;
            }
        }
        for d in &self.details {
            write!(f, "\n  - {}: {}", d.reason, d.message)?;
        }
        Ok(())
    }
}

/// `NS/MODEL@VERSION`, or with an alias in place of the version.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: Namespace,
    pub model: ModelName,
    pub at: At,
}

#[derive(Debug, Clone)]
pub enum At {
    Version(VersionNumber),
    Alias(AliasName),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, Failure> {
        let bad = || {
            Failure::usage(format!(
                "{s:?}: expected NAMESPACE/MODEL@VERSION or NAMESPACE/MODEL@ALIAS"
            ))
        };
        let broken = |e: crate::names::InvalidValue| Failure::usage(format!("{s:?}: {}", e.0));
        let (model, at) = s.rsplit_once('@').ok_or_else(bad)?;
        let (ns, name) = model.split_once('/').ok_or_else(bad)?;
        let namespace = Namespace::parse(ns).map_err(broken)?;
        let model = ModelName::parse(name).map_err(broken)?;
        let at = match at.parse::<i64>() {
            Ok(_) => At::Version(VersionNumber::parse(at).map_err(broken)?),
            Err(_) => At::Alias(AliasName::parse(at).map_err(broken)?),
        };
        Ok(Self {
            namespace,
            model,
            at,
        })
    }

    /// The version number; an alias is refused where a version is needed.
    pub fn version(&self) -> Result<VersionNumber, Failure> {
        match &self.at {
            At::Version(v) => Ok(*v),
            At::Alias(a) => Err(Failure::usage(format!(
                "{a}: this command needs a version number, not an alias"
            ))),
        }
    }

    pub fn model_ref(&self) -> ModelRef {
        ModelRef {
            namespace: self.namespace.clone(),
            name: self.model.clone(),
        }
    }
}

/// `NAMESPACE/MODEL` as given on the command line.
pub fn model_ref(s: &str) -> Result<crate::names::ModelRef, Failure> {
    if !s.contains('/') {
        return Err(Failure::usage(format!("{s:?}: expected NAMESPACE/MODEL")));
    }
    crate::names::ModelRef::parse(s).map_err(|e| Failure::usage(format!("{s:?}: {}", e.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_model_and_a_version_or_alias() {
        let t = Target::parse("fraud/scorer@3").unwrap();
        assert_eq!(t.model_ref().to_string(), "fraud/scorer");
        assert_eq!(t.version().unwrap().get(), 3);
        let t = Target::parse("fraud/scorer@production").unwrap();
        assert!(matches!(t.at, At::Alias(_)));
        assert_eq!(t.version().unwrap_err().exit, Exit::Usage);
        for bad in [
            "fraud/scorer",
            "fraud@3",
            "fraud/scorer@0",
            "fraud/scorer@-1",
            "/x@1",
            "a/b@",
        ] {
            assert_eq!(Target::parse(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn error_answers_map_to_exit_codes_by_kind() {
        let body = |code: &str| {
            serde_json::to_vec(&serde_json::json!({"error": {
                "code": code, "message": "m", "request_id": "r", "reasons": ["a", "b"],
            }}))
            .unwrap()
        };
        assert_eq!(
            failure_of(404, &body("not_found")).exit,
            Exit::NotFoundOrDenied
        );
        assert_eq!(
            failure_of(403, &body("forbidden")).exit,
            Exit::NotFoundOrDenied
        );
        let refused = failure_of(409, &body("promotion_refused"));
        assert_eq!(refused.exit, Exit::RefusedByPolicy);
        assert_eq!(refused.reasons, ["a", "b"]);
        assert_eq!(
            failure_of(422, &body("untrusted_key")).exit,
            Exit::VerificationFailed
        );
        assert_eq!(
            failure_of(403, &body("quarantined")).exit,
            Exit::RefusedByPolicy
        );
        assert_eq!(failure_of(500, b"").exit, Exit::Failure);
    }
}
