//! The access log's Merkle tree and checkpoints' SQL.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use super::audit::{commit, events_after};
use super::{Db, Store};
use crate::error::{Error, Result};
use crate::store::{AuditTree, CheckpointRecord, Pending, SignFn};
use crate::tlog::{self, Hash, Node};

/// Most subtrees read by one statement.
const READ_CHUNK: usize = 200;

fn hash_of(bytes: Vec<u8>) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| Error::internal(anyhow::anyhow!("a stored tree hash is not 32 bytes")))
}

fn index(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(Error::internal)
}

/// Reads the hashes of `nodes` the tree holds.
async fn read(
    conn: &mut <Db as sqlx::Database>::Connection,
    nodes: &[Node],
) -> Result<Vec<(Node, Hash)>> {
    let mut out = Vec::with_capacity(nodes.len());
    for chunk in nodes.chunks(READ_CHUNK) {
        let mut q = sqlx::QueryBuilder::<Db>::new("SELECT level, idx, hash FROM audit_tree WHERE ");
        for (i, n) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(level = ")
                .push_bind(i32::from(n.level))
                .push(" AND idx = ")
                .push_bind(index(n.index)?)
                .push(")");
        }
        for row in q.build().fetch_all(&mut *conn).await? {
            let level: i32 = row.try_get("level")?;
            let idx: i64 = row.try_get("idx")?;
            let node = Node::new(
                u8::try_from(level).map_err(Error::internal)?,
                u64::try_from(idx).map_err(Error::internal)?,
            );
            out.push((node, hash_of(row.try_get("hash")?)?));
        }
    }
    Ok(out)
}

/// Writes subtrees the tree did not hold.
async fn write(
    conn: &mut <Db as sqlx::Database>::Connection,
    nodes: &[(Node, Hash)],
) -> Result<()> {
    for chunk in nodes.chunks(READ_CHUNK) {
        let mut q = sqlx::QueryBuilder::<Db>::new("INSERT INTO audit_tree (level, idx, hash) ");
        let mut rows = Vec::with_capacity(chunk.len());
        for (n, h) in chunk {
            rows.push((i32::from(n.level), index(n.index)?, h.to_vec()));
        }
        q.push_values(rows, |mut b, (level, idx, hash)| {
            b.push_bind(level).push_bind(idx).push_bind(hash);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The subtrees appending leaves `first..first + count` needs from before
/// them (left siblings completed earlier).
fn needed_before(first: u64, count: u64) -> Vec<Node> {
    let mut out: Vec<Node> = (first..first + count)
        .flat_map(tlog::append_needs)
        .filter(|k| ((k.index + 1) << k.level) <= first)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[async_trait]
impl AuditTree for Store {
    #[tracing::instrument(level = "debug", name = "db.grow_tree", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn grow_tree(&self, limit: i64, sign: &SignFn<'_>) -> Result<(u64, u64)> {
        let mut tx = self.begin_write().await?;
        let size: i64 = sqlx::query_scalar(
            "UPDATE audit_tree_head SET size = size WHERE id = 1 RETURNING size",
        )
        .fetch_one(&mut *tx)
        .await?;
        let events = events_after(&mut tx, size, limit).await?;
        let (first, count) = (
            u64::try_from(size).map_err(Error::internal)?,
            events.len() as u64,
        );
        if events.is_empty() {
            return Ok((first, first));
        }
        // Leaf n is event n + 1: a gap is events gone before the tree held them.
        if let Some((i, e)) =
            (events.iter().enumerate()).find(|(i, e)| e.event.seq != size + 1 + *i as i64)
        {
            return Err(Error::internal(anyhow::anyhow!(
                "the access log's tree needs event {} next but the chain holds event {} there: \
                 events were removed before the tree held them",
                size + 1 + i as i64,
                e.event.seq
            )));
        }
        let mut known: HashMap<Node, Hash> = read(&mut tx, &needed_before(first, count))
            .await?
            .into_iter()
            .collect();
        let mut added = Vec::with_capacity(events.len() * 2);
        for (i, e) in events.iter().enumerate() {
            let n = first + i as u64;
            let left = tlog::append_needs(n)
                .iter()
                .map(|k| known.get(k).copied())
                .collect::<Option<Vec<Hash>>>()
                .ok_or_else(|| Error::internal(anyhow::anyhow!("the tree lacks a subtree")))?;
            for (node, h) in tlog::appended(n, tlog::leaf_hash(e.line().as_bytes()), &left) {
                known.insert(node, h);
                added.push((node, h));
            }
        }
        write(&mut tx, &added).await?;
        let grown = first + count;
        let range = [tlog::root_range(grown)];
        let missing: Vec<Node> = tlog::needs(&range)
            .into_iter()
            .filter(|n| !known.contains_key(n))
            .collect();
        known.extend(read(&mut tx, &missing).await?);
        let root = tlog::hashes_of(&range, |n| known.get(&n).copied())
            .and_then(|h| h.first().copied())
            .ok_or_else(|| Error::internal(anyhow::anyhow!("the tree lacks a subtree")))?;
        sqlx::query(
            "INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(index(grown)?)
        .bind(root.to_vec())
        .bind(sign(grown, &root))
        .bind(chrono::Utc::now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE audit_tree_head SET size = $1 WHERE id = 1")
            .bind(index(grown)?)
            .execute(&mut *tx)
            .await?;
        // The tree is derived from events already recorded: nothing to record.
        commit(tx, &Pending::system()).await?;
        Ok((first, grown))
    }

    #[tracing::instrument(level = "debug", name = "db.tree_hashes", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn tree_hashes(&self, nodes: &[Node]) -> Result<Vec<(Node, Hash)>> {
        let mut conn = self.pool.acquire().await?;
        read(&mut conn, nodes).await
    }

    #[tracing::instrument(level = "debug", name = "db.level_hashes", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn level_hashes(&self, level: u8, first: u64, count: u64) -> Result<Vec<Hash>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT hash FROM audit_tree WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
        )
        .bind(i32::from(level))
        .bind(index(first)?)
        .bind(index(first.saturating_add(count))?)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(hash_of).collect()
    }

    #[tracing::instrument(level = "debug", name = "db.checkpoint", skip_all, fields(db.system = super::DB_SYSTEM))]
    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<CheckpointRecord>> {
        let row =
            match size {
                Some(s) => sqlx::query(
                    "SELECT size, root, note, created_at FROM audit_checkpoints WHERE size = $1",
                )
                .bind(index(s)?)
                .fetch_optional(&self.pool)
                .await?,
                None => {
                    sqlx::query(
                        "SELECT size, root, note, created_at FROM audit_checkpoints \
                     ORDER BY size DESC LIMIT 1",
                    )
                    .fetch_optional(&self.pool)
                    .await?
                }
            };
        let Some(row) = row else {
            return Ok(None);
        };
        let size: i64 = row.try_get("size")?;
        Ok(Some(CheckpointRecord {
            size: u64::try_from(size).map_err(Error::internal)?,
            root: hash_of(row.try_get("root")?)?,
            note: row.try_get("note")?,
            created_at: row.try_get("created_at")?,
        }))
    }
}
