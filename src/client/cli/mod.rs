//! The client's command line: every command a training pipeline, an
//! approver, a deployer, an auditor and a namespace's maintainer run, and
//! which function carries it out.

use clap::Subcommand;

use super::{Done, Failure};

mod admin;
mod audit;
mod reads;

pub use admin::{
    KeyCommand, MemberCommand, PolicyCommand, PublisherCommand, QuarantineCommand, TokenCommand,
};
pub use audit::{AuditCommand, AuditFilterArgs};
pub use reads::{
    AliasCommand, FileCommand, ModelCommand, NamespaceCommand, SignatureCommand, VersionCommand,
};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Save a registry's address and an API token (read from stdin or a
    /// prompt) for the other client commands.
    Login {
        #[arg(long)]
        server: String,
        /// Sign in as a trusted publisher with this CI job's identity token
        /// (GitHub Actions' token service, SIGNET_ID_TOKEN, or
        /// --id-token-file) instead of an API token.
        #[arg(long)]
        oidc: bool,
        /// The audience to ask GitHub Actions for (the registry's
        /// SIGNET_OIDC_AUDIENCE).
        #[arg(long, default_value = "signet", requires = "oidc")]
        audience: String,
        /// A file holding the identity token.
        #[arg(long, requires = "oidc")]
        id_token_file: Option<std::path::PathBuf>,
        /// The trusted publisher (`NAMESPACE/NAME`), when the identity matches
        /// several.
        #[arg(long, requires = "oidc")]
        publisher: Option<String>,
    },
    /// Forget the saved token.
    Logout,
    /// Make a signing key pair, NAME.key (PKCS#8 PEM, mode 0600) and
    /// NAME.pub (SPKI PEM).
    Keygen {
        /// `ecdsa-p256` (the default: the one algorithm `model_signing`,
        /// cosign and Rekor all verify) or `ed25519`.
        #[arg(long, default_value = "ecdsa-p256")]
        algorithm: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Namespaces: create (admins), list, show.
    Namespace {
        #[command(subcommand)]
        command: NamespaceCommand,
    },
    /// Models: create, list, show.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Signing keys: register, list, show, revoke.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Who the registry takes you for, and your roles.
    Whoami,
    /// A model's versions, and a version's standing at the gate.
    Version {
        #[command(subcommand)]
        command: VersionCommand,
    },
    /// Aliases: where they point, their history; removal.
    Alias {
        #[command(subcommand)]
        command: AliasCommand,
    },
    /// A version's stored signatures.
    Signature {
        #[command(subcommand)]
        command: SignatureCommand,
    },
    /// A draft version's files.
    File {
        #[command(subcommand)]
        command: FileCommand,
    },
    /// API tokens: mint, list, revoke.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// A namespace's members and their roles.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Trusted publishers: CI identities that publish without a stored token.
    Publisher {
        #[command(subcommand)]
        command: PublisherCommand,
    },
    /// Webhooks: a namespace's subscriptions to the registry's events.
    Webhook {
        #[command(subcommand)]
        command: super::webhooks::WebhookCommand,
    },
    /// A namespace's promotion and pull policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Quarantines of datasets, commits and versions.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Sign a sealed version's statement with a local key and upload the
    /// signature.
    Sign {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        #[arg(long)]
        key: std::path::PathBuf,
    },
    /// Attest a sealed version: sign here an in-toto statement of
    /// PREDICATE_TYPE about its files, with the JSON object in FILE as its
    /// predicate (an evaluation's metrics, a scan's findings), and upload it.
    Attest {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        /// The predicate's type, a URI
        /// (`https://signet.dev/attestations/evaluation/v1`).
        #[arg(long)]
        predicate_type: String,
        /// A JSON file holding the predicate (an object).
        #[arg(long)]
        predicate: std::path::PathBuf,
        #[arg(long)]
        key: std::path::PathBuf,
    },
    /// A version's attestations, oldest first; with --id, one of them (its
    /// statement decoded), or with --bundle its Sigstore bundle.
    Attestations {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        /// Only those of this predicate type.
        #[arg(long, conflicts_with = "id")]
        predicate_type: Option<String>,
        #[arg(long)]
        id: Option<uuid::Uuid>,
        /// Print the attestation as a Sigstore bundle v0.3.
        #[arg(long, requires = "id")]
        bundle: bool,
    },
    /// A sealed version's AI bill of materials: a CycloneDX 1.6 ML-BOM
    /// (JSON), to FILE with --out.
    Bom {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// A sealed version's SLSA provenance v1, issued and signed by the
    /// registry (a DSSE envelope), to FILE with --out.
    Provenance {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The registry's own public key (SPKI PEM), which verifies the
    /// promotion records it signs: save it, and pass it to `alias history
    /// --registry-key`.
    RegistryKey,
    /// Point an alias at a version (a refusal prints every reason).
    Promote {
        /// NAMESPACE/MODEL@VERSION
        target: String,
        alias: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Upload every file of DIR as a new version (each checked by its
    /// SHA-256), seal it, and with --sign sign its statement here.
    Push {
        dir: std::path::PathBuf,
        /// NAMESPACE/MODEL
        model: String,
        /// A JSON file with the version's lineage.
        #[arg(long)]
        lineage: Option<std::path::PathBuf>,
        /// A JSON file with the version's metadata.
        #[arg(long)]
        metadata: Option<std::path::PathBuf>,
        /// A private key (PKCS#8 PEM) to sign the sealed version with.
        #[arg(long)]
        sign: Option<std::path::PathBuf>,
        /// Files uploaded at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
    },
    /// Download a version verified against keys you pin, into DIR (with
    /// its signature as DIR/model.sig); nothing reaches DIR unless all verifies.
    Pull {
        /// NAMESPACE/MODEL@VERSION or NAMESPACE/MODEL@ALIAS
        target: String,
        dir: std::path::PathBuf,
        /// A public key you trust (SPKI PEM); repeat for several. Without
        /// one, the keys of the trust directory (`~/.config/signet/trust/*.pub`,
        /// or SIGNET_TRUST_DIR).
        #[arg(long = "trust-key")]
        trust_keys: Vec<std::path::PathBuf>,
        /// Files downloaded at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// Replace DIR even when it holds something other than a verified pull.
        #[arg(long)]
        force: bool,
        /// Keep the pull a redeploy replaces, as DIR.previous.
        #[arg(long)]
        keep_previous: bool,
        /// Pull only if the version holds an attestation of this predicate
        /// type about its files, signed by a pinned key (checked here, before
        /// any file is fetched); repeat for several.
        #[arg(long = "require-attestation")]
        require_attestation: Vec<String>,
    },
    /// Offline: check DIR against its signature and a key you trust.
    Verify {
        dir: std::path::PathBuf,
        /// A public key you trust; repeat for several. Without one, the keys of
        /// the trust directory.
        #[arg(long)]
        key: Vec<std::path::PathBuf>,
        /// The signature (default: DIR/model.sig).
        #[arg(long)]
        signature: Option<std::path::PathBuf>,
        /// Also ask the registry (signed in) whether it has revoked the key
        /// since: its word can make the check fail, never pass.
        #[arg(long)]
        online: bool,
    },
    /// The access log: search it, export it, verify it (offline from
    /// an exported file).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Lineage: what was built from a dataset or a commit, and a
    /// version's ancestors and descendants.
    Lineage {
        #[command(subcommand)]
        command: LineageCommand,
    },
}

#[derive(Subcommand)]
pub enum LineageCommand {
    /// Versions trained on a dataset (its SHA-256), and what was built from them.
    Dataset { sha256: String },
    /// Versions built from a code commit.
    Commit { sha: String },
    /// A version's ancestors and descendants (NAMESPACE/MODEL@VERSION or @ALIAS).
    Version { target: String },
}

/// Runs one of the client's commands; its outcome decides the exit code.
pub async fn run(command: ClientCommand, bars: bool) -> Result<Done, Failure> {
    match command {
        ClientCommand::Login {
            server,
            oidc: true,
            audience,
            id_token_file,
            publisher,
        } => {
            super::oidc::login(
                &server,
                &audience,
                id_token_file.as_deref(),
                publisher.as_deref(),
            )
            .await
        }
        ClientCommand::Login { server, .. } => super::commands::login(&server).await,
        ClientCommand::Logout => super::commands::logout(),
        ClientCommand::Keygen { algorithm, out } => super::commands::keygen(&algorithm, &out),
        ClientCommand::Sign { target, key } => super::commands::sign(&target, &key).await,
        ClientCommand::Push {
            dir,
            model,
            lineage,
            metadata,
            sign,
            jobs,
        } => {
            let options = super::push::PushOptions {
                lineage: lineage.as_deref(),
                metadata: metadata.as_deref(),
                sign: sign.as_deref(),
                jobs,
                progress: bars,
            };
            super::commands::push(&dir, &model, &options).await
        }
        ClientCommand::Pull {
            target,
            dir,
            trust_keys,
            jobs,
            force,
            keep_previous,
            require_attestation,
        } => {
            let options = super::pull::PullOptions {
                trust: &trust_keys,
                jobs,
                progress: bars,
                force,
                keep_previous,
                attestations: &require_attestation,
            };
            super::commands::pull(&target, &dir, &options).await
        }
        ClientCommand::Verify {
            dir,
            key,
            signature,
            online,
        } => super::commands::verify(&dir, &key, signature.as_deref(), online).await,
        ClientCommand::Attest {
            target,
            predicate_type,
            predicate,
            key,
        } => super::attest::attest(&target, &predicate_type, &predicate, &key).await,
        ClientCommand::Attestations {
            target,
            predicate_type,
            id: None,
            ..
        } => super::attest::list(&target, predicate_type.as_deref()).await,
        ClientCommand::Attestations {
            target,
            id: Some(id),
            bundle,
            ..
        } => super::attest::show(&target, id, bundle).await,
        ClientCommand::RegistryKey => super::attest::registry_key().await,
        ClientCommand::Bom { target, out } => {
            super::attest::document(&target, super::attest::Document::Bom, out.as_deref()).await
        }
        ClientCommand::Provenance { target, out } => {
            let which = super::attest::Document::Provenance;
            super::attest::document(&target, which, out.as_deref()).await
        }
        ClientCommand::Promote {
            target,
            alias,
            reason,
        } => super::commands::promote(&target, &alias, reason.as_deref()).await,
        ClientCommand::Whoami => super::browse::whoami().await,
        ClientCommand::Audit { command } => audit::run(command).await,
        ClientCommand::Lineage { command } => match command {
            LineageCommand::Dataset { sha256 } => {
                super::commands::lineage("dataset", &sha256).await
            }
            LineageCommand::Commit { sha } => super::commands::lineage("commit", &sha).await,
            LineageCommand::Version { target } => {
                super::commands::lineage("version", &target).await
            }
        },
        other => reads_command(other).await,
    }
}

/// `signet namespace|model|version|alias …`.
async fn reads_command(command: ClientCommand) -> Result<Done, Failure> {
    use super::browse as m;
    match command {
        ClientCommand::Namespace { command } => match command {
            NamespaceCommand::Create { name, description } => {
                m::namespace_create(&name, description.as_deref()).await
            }
            NamespaceCommand::List { limit } => m::namespace_list(limit).await,
            NamespaceCommand::Show { name } => m::namespace_show(&name).await,
        },
        ClientCommand::Model { command } => match command {
            ModelCommand::Create { model, description } => {
                m::model_create(&model, description.as_deref()).await
            }
            ModelCommand::List { namespace, limit } => {
                m::model_list(namespace.as_deref(), limit).await
            }
            ModelCommand::Show { model } => m::model_show(&model).await,
        },
        ClientCommand::Version { command } => match command {
            VersionCommand::List { model, limit } => m::version_list(&model, limit).await,
            VersionCommand::Show { target } => m::version_show(&target).await,
        },
        ClientCommand::Alias { command } => match command {
            AliasCommand::List { model } => m::alias_list(&model).await,
            AliasCommand::Show { target } => m::alias_show(&target).await,
            AliasCommand::History {
                target,
                limit,
                registry_key,
            } => m::alias_history(&target, limit, registry_key.as_deref()).await,
            AliasCommand::Remove { target, reason } => {
                m::alias_remove(&target, reason.as_deref()).await
            }
        },
        ClientCommand::Signature {
            command: SignatureCommand::List { target },
        } => m::signature_list(&target).await,
        ClientCommand::File {
            command: FileCommand::Delete { target, path },
        } => m::file_delete(&target, &path).await,
        other => admin_command(other).await,
    }
}

/// `signet token|member|policy|key|quarantine …`.
async fn admin_command(command: ClientCommand) -> Result<Done, Failure> {
    use super::manage as m;
    match command {
        ClientCommand::Token { command } => match command {
            TokenCommand::Create {
                principal,
                description,
                expires_in_days,
            } => {
                m::token_create(
                    principal.as_deref(),
                    description.as_deref(),
                    expires_in_days,
                )
                .await
            }
            TokenCommand::List { limit } => m::token_list(limit).await,
            TokenCommand::Revoke { id } => m::token_revoke(&id).await,
        },
        ClientCommand::Member { command } => match command {
            MemberCommand::List { namespace, limit } => m::member_list(&namespace, limit).await,
            MemberCommand::Set {
                namespace,
                principal,
                roles,
            } => m::member_set(&namespace, &principal, &roles).await,
            MemberCommand::Remove {
                namespace,
                principal,
            } => m::member_remove(&namespace, &principal).await,
        },
        ClientCommand::Publisher { command } => match command {
            PublisherCommand::Set {
                publisher,
                issuer,
                claims,
                roles,
                no_bind_commit,
            } => {
                super::oidc::publisher_set(&publisher, &issuer, &claims, &roles, !no_bind_commit)
                    .await
            }
            PublisherCommand::List { namespace } => super::oidc::publisher_list(&namespace).await,
            PublisherCommand::Remove { publisher } => {
                super::oidc::publisher_remove(&publisher).await
            }
        },
        ClientCommand::Webhook { command } => super::webhooks::run(command).await,
        ClientCommand::Policy { command } => match command {
            PolicyCommand::Show { namespace } => m::policy_show(&namespace).await,
            PolicyCommand::Set { namespace, file } => m::policy_set(&namespace, &file).await,
        },
        ClientCommand::Key { command } => match command {
            KeyCommand::Register {
                public_key,
                namespaces,
                name,
            } => super::commands::key_register(&public_key, &namespaces, name.as_deref()).await,
            KeyCommand::List { limit } => m::key_list(limit).await,
            KeyCommand::Show { keyid } => m::key_show(&keyid).await,
            KeyCommand::Revoke {
                keyid,
                reason,
                note,
            } => m::key_revoke(&keyid, &reason, note.as_deref()).await,
        },
        ClientCommand::Quarantine { command } => match command {
            QuarantineCommand::Place {
                kind,
                value,
                reason,
                namespaces,
            } => m::quarantine_place(&kind, &value, &reason, &namespaces).await,
            QuarantineCommand::List { limit } => m::quarantine_list(limit).await,
            QuarantineCommand::Lift { id, reason } => {
                m::quarantine_lift(&id, reason.as_deref()).await
            }
        },
        _ => unreachable!("run() dispatches every other command"),
    }
}
