//! Models', versions' and files' SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::audit::commit;
use super::namespaces::visibility;
use super::{Db, Store};
use crate::error::{Error, Result};
use crate::kinds::VersionState;
use crate::names::{AliasName, FilePath, KeyId, ModelName, ModelRef, Namespace, VersionNumber};
use crate::store::{
    FileRecord, ModelRecord, Models, NewVersion, Pending, RootFn, SignatureRecord, VersionEntry,
    VersionRecord, Visibility, WriteTx,
};

/// The columns of a version with its model's names (`v` versions, `m` models).
macro_rules! version_columns {
    () => {
        "v.id, m.namespace, m.name AS model, v.version, v.state, v.lineage, v.metadata, \
         v.created_at, v.created_by, v.sealed_at, v.root_digest, v.provenance"
    };
}

/// A version with its model's names.
macro_rules! version_select {
    () => {
        concat!(
            "SELECT ",
            version_columns!(),
            " FROM versions v JOIN models m ON m.id = v.model_id"
        )
    };
}

macro_rules! model_select {
    () => {
        "SELECT m.id, m.namespace, m.name, m.description, m.created_at, m.created_by, \
         (SELECT MAX(v.version) FROM versions v WHERE v.model_id = m.id) AS latest_version \
         FROM models m"
    };
}

pub(super) use {version_columns, version_select};

/// Takes the version's write lock and checks it is still a draft.
pub(super) async fn lock_draft(tx: &mut WriteTx<Db>, version_id: Uuid) -> Result<()> {
    let n = sqlx::query("UPDATE versions SET state = state WHERE id = $1 AND state = $2")
        .bind(version_id)
        .bind(VersionState::Draft)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::VersionSealed);
    }
    Ok(())
}

/// Records (or replaces) a file of a draft version, under the version's lock;
/// see `Models::put_file`.
pub(super) async fn insert_file(
    tx: &mut WriteTx<Db>,
    version_id: Uuid,
    f: &FileRecord,
    max_files: usize,
) -> Result<()> {
    lock_draft(tx, version_id).await?;
    // Checked under the version's lock, against the files committed before.
    let paths: Vec<FilePath> = sqlx::query_scalar("SELECT path FROM files WHERE version_id = $1")
        .bind(version_id)
        .fetch_all(&mut **tx)
        .await?;
    if let Some(why) = paths.iter().find_map(|p| f.path.clash(p)) {
        return Err(Error::Conflict(why.into()));
    }
    if paths.len() >= max_files && !paths.contains(&f.path) {
        return Err(Error::TooManyFiles { limit: max_files });
    }
    sqlx::query(
        "INSERT INTO files (version_id, path, size, sha256, blob_id, created_at, format, \
         block_digests, format_reason, sha256_chain) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (version_id, path) DO UPDATE \
         SET size = excluded.size, sha256 = excluded.sha256, blob_id = excluded.blob_id, \
         created_at = excluded.created_at, format = excluded.format, \
         block_digests = excluded.block_digests, format_reason = excluded.format_reason, \
         sha256_chain = excluded.sha256_chain",
    )
    .bind(version_id)
    .bind(&f.path)
    .bind(f.size)
    .bind(f.sha256)
    .bind(f.blob_id)
    .bind(f.created_at)
    .bind(f.format)
    .bind(&f.block_digests)
    .bind(&f.format_reason)
    .bind(&f.sha256_chain)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Models for Store {
    #[tracing::instrument(level = "debug", name = "db.create_model", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_model(&self, m: &ModelRecord, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO models (id, namespace, name, description, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(m.id)
        .bind(&m.namespace)
        .bind(&m.name)
        .bind(&m.description)
        .bind(m.created_at)
        .bind(&m.created_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| crate::store::map_constraint(e, "the model exists"))?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_model", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_model(&self, model: &ModelRef) -> Result<ModelRecord> {
        Ok(sqlx::query_as(concat!(
            model_select!(),
            " WHERE m.namespace = $1 AND m.name = $2"
        ))
        .bind(&model.namespace)
        .bind(&model.name)
        .fetch_one(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.list_models", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn list_models(
        &self,
        vis: &Visibility,
        namespace: Option<&Namespace>,
        after: (&str, &str),
        limit: i64,
    ) -> Result<Vec<ModelRecord>> {
        let (all, principal) = visibility(vis);
        Ok(sqlx::query_as(concat!(
            model_select!(),
            " WHERE (m.namespace, m.name) > ($1, $2) \
               AND (m.namespace = $3 OR $3 = '') \
               AND ($4 OR m.namespace IN \
                 (SELECT namespace FROM role_bindings WHERE principal = $5)) \
             ORDER BY m.namespace, m.name LIMIT $6"
        ))
        .bind(after.0)
        .bind(after.1)
        .bind(namespace.map(Namespace::as_str).unwrap_or(""))
        .bind(all)
        .bind(principal)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.models_named", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn models_named(
        &self,
        vis: &Visibility,
        name: &ModelName,
        limit: i64,
    ) -> Result<Vec<ModelRecord>> {
        let (all, principal) = visibility(vis);
        Ok(sqlx::query_as(concat!(
            model_select!(),
            " WHERE m.name = $1 \
               AND ($2 OR m.namespace IN \
                 (SELECT namespace FROM role_bindings WHERE principal = $3)) \
             ORDER BY m.namespace LIMIT $4"
        ))
        .bind(name)
        .bind(all)
        .bind(principal)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.create_version", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn create_version(
        &self,
        model: &ModelRef,
        v: &NewVersion,
        audit: &Pending,
    ) -> Result<VersionRecord> {
        let mut tx = self.begin_write().await?;
        // The counter bump takes the model's row lock: concurrent creators queue
        // here and each gets the next number. A failure rolls the bump back with
        // the insert, so no number is skipped.
        let (model_id, number): (Uuid, i64) = sqlx::query_as(
            "UPDATE models SET next_version = next_version + 1 \
             WHERE namespace = $1 AND name = $2 RETURNING id, next_version - 1",
        )
        .bind(&model.namespace)
        .bind(&model.name)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO versions (id, model_id, version, state, lineage, metadata, \
             created_at, created_by, code_commit, provenance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(v.id)
        .bind(model_id)
        .bind(number)
        .bind(VersionState::Draft)
        .bind(sqlx::types::Json(&v.lineage))
        .bind(sqlx::types::Json(&v.metadata))
        .bind(v.created_at)
        .bind(&v.created_by)
        .bind(&v.code_commit)
        .bind(v.provenance.as_ref().map(sqlx::types::Json))
        .execute(&mut *tx)
        .await?;
        for d in &v.datasets {
            sqlx::query(
                "INSERT INTO version_datasets (version_id, sha256) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(v.id)
            .bind(d)
            .execute(&mut *tx)
            .await?;
        }
        for p in &v.parents {
            sqlx::query(
                "INSERT INTO version_parents (version_id, parent_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(v.id)
            .bind(p)
            .execute(&mut *tx)
            .await?;
        }
        commit(tx, audit).await?;
        self.get_version(model, VersionNumber::new(number)?).await
    }

    #[tracing::instrument(level = "debug", name = "db.get_version", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_version(&self, model: &ModelRef, version: VersionNumber) -> Result<VersionRecord> {
        Ok(sqlx::query_as(concat!(
            version_select!(),
            " WHERE m.namespace = $1 AND m.name = $2 AND v.version = $3"
        ))
        .bind(&model.namespace)
        .bind(&model.name)
        .bind(version)
        .fetch_one(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.list_versions", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn list_versions(
        &self,
        model: &ModelRef,
        before: i64,
        limit: i64,
    ) -> Result<Vec<VersionRecord>> {
        Ok(sqlx::query_as(concat!(
            version_select!(),
            " WHERE m.namespace = $1 AND m.name = $2 AND v.version < $3 \
             ORDER BY v.version DESC LIMIT $4"
        ))
        .bind(&model.namespace)
        .bind(&model.name)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.signature_counts", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn signature_counts(
        &self,
        model: &ModelRef,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(VersionNumber, i64)>> {
        Ok(sqlx::query_as(
            "SELECT v.version, COUNT(s.keyid) FROM versions v \
             JOIN models m ON m.id = v.model_id \
             LEFT JOIN signatures s ON s.version_id = v.id \
             WHERE m.namespace = $1 AND m.name = $2 AND v.version < $3 \
             GROUP BY v.version ORDER BY v.version DESC LIMIT $4",
        )
        .bind(&model.namespace)
        .bind(&model.name)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.files_of", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn files_of(&self, version_id: Uuid) -> Result<Vec<FileRecord>> {
        Ok(sqlx::query_as(
            "SELECT path, size, sha256, blob_id, created_at, format, format_reason, block_digests, \
             sha256_chain FROM files \
             WHERE version_id = $1 ORDER BY path",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "db.get_version_entry", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn get_version_entry(
        &self,
        model: &ModelRef,
        version: VersionNumber,
    ) -> Result<VersionEntry> {
        // One row per file and one per signature (files first, by path; then
        // signatures as received), or one with neither for a version with
        // none; beside every row the aliases, aggregated once, the trust epoch,
        // read in the same snapshot as the signatures, and the access epoch.
        let rows = sqlx::query(concat!(
            "WITH v AS (SELECT v.model_id, ",
            version_columns!(),
            " FROM versions v JOIN models m ON m.id = v.model_id \
             WHERE m.namespace = $1 AND m.name = $2 AND v.version = $3), \
             al AS (SELECT string_agg(a.alias, ' ') AS aliases FROM aliases a \
             JOIN v ON a.model_id = v.model_id AND a.version = v.version), \
             x AS (SELECT 0 AS kind, f.path AS f_path, f.size AS f_size, f.sha256 AS f_sha256, \
             f.blob_id AS f_blob_id, f.created_at AS f_created_at, f.format AS f_format, \
             f.format_reason AS f_format_reason, f.block_digests AS f_block_digests, \
             f.sha256_chain AS f_sha256_chain, NULL AS s_keyid, NULL AS s_envelope, NULL AS s_received_at, NULL AS s_received_by \
             FROM files f JOIN v ON f.version_id = v.id \
             UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             s.keyid, s.envelope, s.received_at, s.received_by \
             FROM signatures s JOIN v ON s.version_id = v.id) \
             SELECT v.*, al.aliases, e.n AS epoch, ae.n AS access_epoch, x.* \
             FROM v CROSS JOIN al CROSS JOIN trust_epoch e CROSS JOIN access_epoch ae \
             LEFT JOIN x ON TRUE \
             WHERE e.id = 1 AND ae.id = 1 ORDER BY x.kind, x.f_path, x.s_received_at, x.s_keyid"
        ))
        .bind(&model.namespace)
        .bind(&model.name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        let first = rows.first().ok_or(Error::NotFound)?;
        let version = VersionRecord::from_row(first)?;
        let mut aliases: Vec<AliasName> = first
            .try_get::<Option<String>, _>("aliases")?
            .unwrap_or_default()
            .split_whitespace()
            .map(AliasName::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(Error::internal)?;
        aliases.sort();
        let trust_epoch = first.try_get("epoch")?;
        let access_epoch = first.try_get("access_epoch")?;
        let mut files = Vec::with_capacity(rows.len());
        let mut signatures = Vec::new();
        for r in &rows {
            if let Some(path) = r.try_get::<Option<FilePath>, _>("f_path")? {
                files.push(FileRecord {
                    path,
                    size: r.try_get("f_size")?,
                    sha256: r.try_get("f_sha256")?,
                    blob_id: r.try_get("f_blob_id")?,
                    created_at: r.try_get("f_created_at")?,
                    format: r.try_get("f_format")?,
                    format_reason: r.try_get("f_format_reason")?,
                    block_digests: r.try_get("f_block_digests")?,
                    sha256_chain: r.try_get("f_sha256_chain")?,
                });
            } else if let Some(keyid) = r.try_get::<Option<KeyId>, _>("s_keyid")? {
                signatures.push(SignatureRecord {
                    keyid,
                    envelope: r.try_get("s_envelope")?,
                    received_at: r.try_get("s_received_at")?,
                    received_by: r.try_get("s_received_by")?,
                });
            }
        }
        Ok(VersionEntry {
            version,
            files,
            aliases,
            signatures,
            trust_epoch,
            access_epoch,
        })
    }

    #[tracing::instrument(level = "debug", name = "db.put_file", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn put_file(
        &self,
        version_id: Uuid,
        f: &FileRecord,
        max_files: usize,
        audit: &Pending,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_file(&mut tx, version_id, f, max_files).await?;
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.delete_file", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn delete_file(&self, version_id: Uuid, path: &FilePath, audit: &Pending) -> Result<()> {
        let mut tx = self.begin_write().await?;
        lock_draft(&mut tx, version_id).await?;
        let n = sqlx::query("DELETE FROM files WHERE version_id = $1 AND path = $2")
            .bind(version_id)
            .bind(path)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        commit(tx, audit).await
    }

    #[tracing::instrument(level = "debug", name = "db.record_chain", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn record_chain(&self, blob_id: Uuid, chain: &[u8]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE files SET sha256_chain = $2 WHERE blob_id = $1 AND sha256_chain IS NULL",
        )
        .bind(blob_id)
        .bind(chain)
        .execute(&mut *tx)
        .await?;
        // Derived from bytes already recorded: nothing a request changed.
        commit(tx, &Pending::system()).await
    }

    #[tracing::instrument(level = "debug", name = "db.seal_version", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn seal_version(
        &self,
        version_id: Uuid,
        at: DateTime<Utc>,
        root: &RootFn,
        audit: &Pending,
    ) -> Result<VersionRecord> {
        let mut tx = self.begin_write().await?;
        lock_draft(&mut tx, version_id).await?;
        // Read after the lock: an upload that committed first is included, one
        // still waiting will find the version sealed and fail.
        let files: Vec<FileRecord> = sqlx::query_as(
            "SELECT path, size, sha256, blob_id, created_at, format, format_reason, block_digests, \
             sha256_chain FROM files \
             WHERE version_id = $1",
        )
        .bind(version_id)
        .fetch_all(&mut *tx)
        .await?;
        if files.is_empty() {
            return Err(Error::EmptyVersion);
        }
        let root = root(&files);
        sqlx::query(
            "UPDATE versions SET state = $2, sealed_at = $3, root_digest = $4 WHERE id = $1",
        )
        .bind(version_id)
        .bind(VersionState::Sealed)
        .bind(at)
        .bind(root)
        .execute(&mut *tx)
        .await?;
        let v = sqlx::query_as(concat!(version_select!(), " WHERE v.id = $1"))
            .bind(version_id)
            .fetch_one(&mut *tx)
            .await?;
        commit(
            tx,
            &audit.with_detail("root_digest", root.to_string().into()),
        )
        .await?;
        Ok(v)
    }
}
