//! The REST contract's bodies: what requests send and answers return, shared by
//! the server (`http` fills them from the domain's records) and the client
//! (which reads them), so both sides agree by type. Each derives `Serialize`,
//! `Deserialize` and its OpenAPI schema.
//!
//! Dependency rule: a leaf beside `names`, `kinds` and `chain`: it depends on
//! them alone, and everything else may use it.

pub mod attestations;
pub mod identity;
pub mod lineage;
pub mod models;
pub mod paths;
pub mod publishing;
pub mod records;
pub mod refusals;
pub mod signing;
pub mod webhooks;

pub use attestations::*;
pub use identity::*;
pub use lineage::{Lineage, LineageBounds};
pub use models::*;
pub use publishing::*;
pub use records::*;
pub use refusals::{
    AliasGate, FileFinding, GateView, PullGate, QuarantineHold, Refusal, SignatureTally,
    UncountedSignature,
};
pub use signing::*;
pub use webhooks::*;

/// The request header a client sends a file download with when it accepts a
/// `307` to a presigned URL of the object store (`true`): it checks every
/// byte itself.
pub const ACCEPT_REDIRECT: &str = "x-signet-accept-redirect";
