//! A version's lineage as a graph: the version, its ancestors and descendants
//! through `parents` (as far as the caller may see), the datasets and commits
//! each was built from, and which of them a quarantine taints.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::Provenance;
use crate::auth::{Permit, Principal, Read};
use crate::error::Result;
use crate::kinds::QuarantineTarget;
use crate::names::{ModelName, VersionNumber};
use crate::store::VersionRecord;

/// A version node: signed depth (ancestors below 0, descendants above).
pub struct VersionNode {
    pub version: VersionRecord,
    pub depth: i64,
    /// Blocked by a quarantine now (of it, an ancestor, or its inputs).
    pub quarantined: bool,
}

impl VersionNode {
    /// What the version was built from, as its lineage names it: each dataset
    /// digest as `("dataset", digest)` and its commit as `("commit", id)`.
    pub fn inputs(&self) -> Vec<(&'static str, &str)> {
        let l = &self.version.lineage.0;
        l["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["sha256"].as_str().map(|s| ("dataset", s)))
            .chain(l["code"]["commit"].as_str().map(|c| ("commit", c)))
            .collect()
    }
}

/// A dataset or commit node, and whether an active quarantine names it.
pub struct InputNode {
    pub value: String,
    pub quarantined: bool,
}

pub struct LineageGraph {
    /// The focus first, then ancestors and descendants, nearest first.
    pub versions: Vec<VersionNode>,
    /// Dataset digest → node; commit → node.
    pub datasets: BTreeMap<String, InputNode>,
    pub commits: BTreeMap<String, InputNode>,
    /// Edges as (from, to) version ids: parent → child.
    pub parent_edges: BTreeSet<(Uuid, Uuid)>,
}

/// The version `parents` of a lineage document names, as `ns/model@v`.
fn parent_refs(lineage: &serde_json::Value) -> Vec<String> {
    lineage["parents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(format!(
                "{}@{}",
                p["model"].as_str()?,
                p["version"].as_i64()?
            ))
        })
        .collect()
}

fn label(v: &VersionRecord) -> String {
    format!("{}/{}@{}", v.namespace, v.model, v.version)
}

impl Provenance {
    /// The lineage graph around one version (see the module doc).
    pub async fn graph(
        &self,
        permit: &Permit<Read>,
        p: &Principal,
        name: &ModelName,
        number: VersionNumber,
    ) -> Result<LineageGraph> {
        let focus = self.models.get_version(&permit.model(name), number).await?;
        let family = self.family(permit, p, name, number).await?;
        let mut nodes = vec![(focus, 0)];
        nodes.extend(family.ancestors.into_iter().map(|h| (h.version, -h.depth)));
        nodes.extend(family.descendants.into_iter().map(|h| (h.version, h.depth)));
        let mut versions = Vec::with_capacity(nodes.len());
        for (version, depth) in nodes {
            let quarantined = self.lineage.is_quarantined(version.id).await?;
            versions.push(VersionNode {
                version,
                depth,
                quarantined,
            });
        }
        let (bad_data, bad_commits) = self.quarantined_inputs().await?;
        let by_label: BTreeMap<String, Uuid> = versions
            .iter()
            .map(|n| (label(&n.version), n.version.id))
            .collect();
        let (mut datasets, mut commits) = (BTreeMap::new(), BTreeMap::new());
        let mut parent_edges = BTreeSet::new();
        for n in &versions {
            for (kind, value) in n.inputs() {
                let (nodes, bad) = match kind {
                    "dataset" => (&mut datasets, &bad_data),
                    _ => (&mut commits, &bad_commits),
                };
                nodes.entry(value.to_owned()).or_insert_with(|| InputNode {
                    value: value.to_owned(),
                    quarantined: bad.contains(value),
                });
            }
            for parent in parent_refs(&n.version.lineage.0) {
                if let Some(id) = by_label.get(&parent) {
                    parent_edges.insert((*id, n.version.id));
                }
            }
        }
        Ok(LineageGraph {
            versions,
            datasets,
            commits,
            parent_edges,
        })
    }

    /// Dataset digests and commits an active quarantine names.
    async fn quarantined_inputs(&self) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        const BATCH: i64 = 1000;
        let (mut data, mut commits) = (BTreeSet::new(), BTreeSet::new());
        let mut after = Uuid::nil();
        loop {
            let batch = self.lineage.list_quarantines(after, BATCH).await?;
            for q in batch.iter().filter(|q| q.lifted_at.is_none()) {
                match &q.target {
                    QuarantineTarget::Dataset(d) => data.insert(d.to_string()),
                    QuarantineTarget::Commit(c) => commits.insert(c.to_string()),
                    QuarantineTarget::Version(..) => false,
                };
            }
            match batch.last() {
                Some(last) if batch.len() as i64 == BATCH => after = last.id,
                _ => break,
            }
        }
        Ok((data, commits))
    }
}
