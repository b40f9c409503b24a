//! A pullable version as OCI content: a CNCF ModelPack v1 manifest whose layers
//! are the version's files unpacked (layer digest = the file's SHA-256), its
//! config, and one referrer per signature that counts (cosign's layout for
//! Sigstore bundles). Pure: the same version, files and signatures give the same
//! bytes at every request, so digests are stable.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

use crate::kinds::FileFormat;
use crate::names::{FilePath, ModelRef, Sha256, VersionNumber};
use crate::registry::FileRecord;
use crate::trust::{OfferedBundle, Pullable};

pub const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MODEL_ARTIFACT: &str = "application/vnd.cncf.model.manifest.v1+json";
pub const MODEL_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

const TITLE: &str = "org.opencontainers.image.title";
const FILEPATH: &str = "org.cncf.model.filepath";
const UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
const CREATED: &str = "org.opencontainers.image.created";

/// Content addressed by its digest: a manifest, a config, a bundle.
#[derive(Debug, Clone)]
pub struct Object {
    pub digest: Sha256,
    pub media_type: &'static str,
    pub bytes: Bytes,
}

impl Object {
    fn of(media_type: &'static str, bytes: Vec<u8>) -> Self {
        Self {
            digest: Sha256::from_bytes(sha2::Sha256::digest(&bytes).into()),
            media_type,
            bytes: bytes.into(),
        }
    }

    fn json(media_type: &'static str, value: &impl Serialize) -> Self {
        Self::of(
            media_type,
            serde_json::to_vec(value).expect("OCI documents serialize"),
        )
    }

    /// The empty JSON object the image spec's empty descriptor names.
    pub fn empty() -> Self {
        Self::of(EMPTY, b"{}".to_vec())
    }

    fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type,
            digest: format!("sha256:{}", self.digest.to_hex()),
            size: self.bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u8,
    media_type: &'static str,
    artifact_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

/// A version's OCI content.
pub struct Artifact {
    pub version: VersionNumber,
    pub manifest: Object,
    pub config: Object,
    pub layers: Vec<Layer>,
    pub referrers: Vec<Referrer>,
}

/// A layer: a file of the version, whose SHA-256 is the layer's digest.
pub struct Layer {
    pub sha256: Sha256,
    pub path: FilePath,
    pub size: u64,
}

/// One signature as a referrer of the manifest: its manifest, its one layer
/// (the bundle), and how the referrers index lists it.
pub struct Referrer {
    pub manifest: Object,
    pub bundle: Object,
    listed: Descriptor,
}

impl Artifact {
    /// The OCI content of a pullable version of `model`.
    pub fn of(model: &ModelRef, p: &Pullable) -> Self {
        let v = &p.details.version;
        let mut files: Vec<&FileRecord> = p.details.files.iter().collect();
        files.sort_by(|a, b| a.path.cmp_components(&b.path));
        let layers: Vec<Descriptor> = files.iter().map(|f| layer(f)).collect();
        let lineage = &v.lineage.0;
        let text = |ptr: &str| {
            lineage
                .pointer(ptr)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (repo, commit) = (text("/code/repo"), text("/code/commit"));
        let created = v
            .sealed_at
            .unwrap_or(v.created_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let config = Object::json(
            MODEL_CONFIG,
            &config_of(
                model,
                v.version.get(),
                &created,
                &files,
                (&repo, &commit),
                lineage,
            ),
        );
        let mut annotations = BTreeMap::from([
            (CREATED, created),
            ("org.opencontainers.image.version", v.version.to_string()),
            ("dev.signet.model", model.to_string()),
            ("dev.signet.version", v.version.to_string()),
        ]);
        if let Some(root) = v.root_digest {
            annotations.insert(
                "dev.signet.root-digest",
                format!("sha256:{}", root.to_hex()),
            );
        }
        if let Some(repo) = repo {
            annotations.insert("org.opencontainers.image.source", repo);
        }
        if let Some(commit) = commit {
            annotations.insert("org.opencontainers.image.revision", commit);
        }
        let manifest = Object::json(
            IMAGE_MANIFEST,
            &Manifest {
                schema_version: 2,
                media_type: IMAGE_MANIFEST,
                artifact_type: MODEL_ARTIFACT,
                config: config.descriptor(),
                layers,
                subject: None,
                annotations,
            },
        );
        let subject = manifest.descriptor();
        let referrers = p.bundles.iter().map(|b| referrer(&subject, b)).collect();
        Self {
            version: v.version,
            layers: files
                .iter()
                .map(|f| Layer {
                    sha256: f.sha256,
                    path: f.path.clone(),
                    size: u64::try_from(f.size).unwrap_or_default(),
                })
                .collect(),
            manifest,
            config,
            referrers,
        }
    }

    /// The referrers index of the manifest, of one artifact type or all.
    pub fn referrers_index(&self, artifact_type: Option<&str>) -> Object {
        let manifests: Vec<&Descriptor> = self
            .referrers
            .iter()
            .map(|r| &r.listed)
            .filter(|d| artifact_type.is_none_or(|t| d.artifact_type == Some(t)))
            .collect();
        index_of(&manifests)
    }
}

/// A referrers index listing nothing (a subject that is not here).
pub fn empty_index() -> Object {
    index_of(&[])
}

fn index_of(manifests: &[&Descriptor]) -> Object {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Index<'a> {
        schema_version: u8,
        media_type: &'static str,
        manifests: &'a [&'a Descriptor],
    }
    Object::json(
        IMAGE_INDEX,
        &Index {
            schema_version: 2,
            media_type: IMAGE_INDEX,
            manifests,
        },
    )
}

/// One file as a layer, with the media type its kind gets ([`kind_of`]).
fn layer(f: &FileRecord) -> Descriptor {
    let (kind, tested) = kind_of(&f.path, f.format);
    let mut annotations =
        BTreeMap::from([(TITLE, f.path.to_string()), (FILEPATH, f.path.to_string())]);
    if !tested {
        annotations.insert(UNTESTED, "true".to_owned());
    }
    Descriptor {
        media_type: kind.media_type(),
        digest: format!("sha256:{}", f.sha256.to_hex()),
        size: u64::try_from(f.size).unwrap_or_default(),
        artifact_type: None,
        annotations,
    }
}

/// The ModelPack kinds of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Weight,
    WeightConfig,
    Doc,
    Code,
    Dataset,
}

impl LayerKind {
    pub fn media_type(self) -> &'static str {
        match self {
            LayerKind::Weight => "application/vnd.cncf.model.weight.v1.raw",
            LayerKind::WeightConfig => "application/vnd.cncf.model.weight.config.v1.raw",
            LayerKind::Doc => "application/vnd.cncf.model.doc.v1.raw",
            LayerKind::Code => "application/vnd.cncf.model.code.v1.raw",
            LayerKind::Dataset => "application/vnd.cncf.model.dataset.v1.raw",
        }
    }
}

/// The rule that picks a file's layer kind (docs/oci.md), and whether it was
/// recognised (`false`: the fallback, annotated as untested):
/// 1. a weights format recognised from the bytes (safetensors, ONNX, GGUF,
///    numpy, pickle) is `weight`;
/// 2. by the file's name: README, LICENSE, NOTICE, CHANGELOG, MODEL_CARD or a
///    `.md`, `.rst`, `.pdf`, `.html` file is `doc`; source code and notebooks
///    are `code`; table and record formats (`.csv`, `.parquet`, `.jsonl`, …)
///    are `dataset`;
/// 3. a JSON document, tokenizer and vocabulary files and configuration
///    formats (`.yaml`, `.toml`, …) are `weight.config`;
/// 4. anything else is `weight`, untested.
pub fn kind_of(path: &FilePath, format: FileFormat) -> (LayerKind, bool) {
    use FileFormat as F;
    if matches!(
        format,
        F::Safetensors | F::Onnx | F::Gguf | F::Numpy | F::Pickle
    ) {
        return (LayerKind::Weight, true);
    }
    let name = path
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let stem = name.split('.').next().unwrap_or_default();
    const DOCS: [&str; 6] = [
        "readme",
        "license",
        "licence",
        "notice",
        "changelog",
        "model_card",
    ];
    if DOCS.contains(&stem) || matches!(ext, "md" | "rst" | "pdf" | "html" | "htm") {
        return (LayerKind::Doc, true);
    }
    const CODE: [&str; 16] = [
        "py", "ipynb", "sh", "js", "ts", "rs", "go", "java", "c", "cc", "cpp", "h", "r", "jl",
        "lua", "rb",
    ];
    if CODE.contains(&ext) {
        return (LayerKind::Code, true);
    }
    const DATA: [&str; 8] = [
        "csv", "tsv", "parquet", "jsonl", "arrow", "tfrecord", "avro", "orc",
    ];
    if DATA.contains(&ext) {
        return (LayerKind::Dataset, true);
    }
    const CONFIG: [&str; 8] = [
        "json", "yaml", "yml", "toml", "cfg", "ini", "model", "tiktoken",
    ];
    let vocabulary = stem.starts_with("vocab") || stem.starts_with("merges");
    if format == F::Json || CONFIG.contains(&ext) || vocabulary {
        return (LayerKind::WeightConfig, true);
    }
    (LayerKind::Weight, false)
}

/// The ModelPack config of a version: its descriptor from the lineage, the
/// weights' format when they share one, and the layers' digests.
fn config_of(
    model: &ModelRef,
    version: i64,
    created: &str,
    files: &[&FileRecord],
    (repo, commit): (&Option<String>, &Option<String>),
    lineage: &Value,
) -> Value {
    let mut descriptor = serde_json::json!({
        "name": model.to_string(),
        "version": version.to_string(),
        "createdAt": created,
    });
    if let Some(repo) = repo {
        descriptor["sourceURL"] = repo.clone().into();
    }
    if let Some(commit) = commit {
        descriptor["revision"] = commit.clone().into();
    }
    let datasets: Vec<&str> = lineage["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["uri"].as_str())
        .collect();
    if !datasets.is_empty() {
        descriptor["datasetsURL"] = datasets.into();
    }
    let formats: std::collections::BTreeSet<&str> = files
        .iter()
        .filter(|f| kind_of(&f.path, f.format) == (LayerKind::Weight, true))
        .map(|f| f.format.as_str())
        .collect();
    let mut config = serde_json::json!({});
    if let [only] = formats.into_iter().collect::<Vec<_>>()[..] {
        config["format"] = only.into();
    }
    let diff_ids: Vec<String> = files
        .iter()
        .map(|f| format!("sha256:{}", f.sha256.to_hex()))
        .collect();
    serde_json::json!({
        "descriptor": descriptor,
        "config": config,
        "modelfs": {"type": "layers", "diffIds": diff_ids},
    })
}

/// A signature's referrer: cosign's layout for a Sigstore bundle in OCI.
fn referrer(subject: &Descriptor, b: &OfferedBundle) -> Referrer {
    let bundle = Object::json(BUNDLE, &b.bundle);
    let mut layer = bundle.descriptor();
    layer.annotations.insert(
        TITLE,
        format!("sha256-{}.sigstore.json", bundle.digest.to_hex()),
    );
    let predicate = b.bundle["dsseEnvelope"]["payload"]
        .as_str()
        .and_then(|p| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(p).ok()
        })
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .and_then(|st| st["predicateType"].as_str().map(str::to_owned));
    let mut annotations = BTreeMap::from([
        ("dev.sigstore.bundle.content", "dsse-envelope".to_owned()),
        (
            CREATED,
            b.received_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        ("dev.signet.keyid", b.keyid.to_string()),
    ]);
    if let Some(t) = predicate {
        annotations.insert("dev.sigstore.bundle.predicateType", t);
    }
    let manifest = Object::json(
        IMAGE_MANIFEST,
        &Manifest {
            schema_version: 2,
            media_type: IMAGE_MANIFEST,
            artifact_type: BUNDLE,
            config: Object::empty().descriptor(),
            layers: vec![layer],
            subject: Some(subject.clone()),
            annotations: annotations.clone(),
        },
    );
    let mut listed = manifest.descriptor();
    listed.artifact_type = Some(BUNDLE);
    listed.annotations = annotations;
    Referrer {
        manifest,
        bundle,
        listed,
    }
}
