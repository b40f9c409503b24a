//! Schema migrations: applied by `signet migrate`, or at start unless `serve` is
//! told not to.
//!
//! Replicas started at once on one PostgreSQL database agree on one migrator
//! through a session advisory lock taken with `pg_try_advisory_lock`, never the
//! blocking `pg_advisory_lock`: a session blocked on that lock sits inside a
//! statement, and `CREATE INDEX CONCURRENTLY` (migrations 0016 to 0018) waits for
//! every such statement to end while the blocked one waits for the migrator, a
//! deadlock. The others poll instead, idle between polls, until nothing is
//! pending. The lock is the one sqlx's own migrator takes, so releases before
//! this one, which take it the blocking way, still take turns with this one.
//!
//! Every statement of a migration waits at most the lock timeout for locks that
//! other sessions hold (replicas still serving the previous release, a long
//! audit export). Past it the migration is rolled back (a concurrent index build
//! that stopped half way leaves an invalid index, which is dropped) and tried
//! again with a log line naming it, until the overall deadline; so a serving
//! replica's statements queue behind a waiting migration for at most that long.
//!
//! A database that a newer release migrated further (migrations this build does
//! not know) is accepted: during a rollout the previous release keeps serving on
//! the new schema, which is why migrations add, then use, then drop
//! (`migrations/README.md`).

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::migrate::{AppliedMigration, MigrateError, Migration, Migrator};
use sqlx::postgres::PgConnection;

use crate::error::{Error, Result};

/// sqlx's table of applied migrations.
const TABLE: &str = "_sqlx_migrations";

/// The longest one migration statement waits for another session's lock, by
/// default (`SIGNET_MIGRATION_LOCK_TIMEOUT_SECS`).
pub const LOCK_TIMEOUT_SECS: u64 = 5;
/// The longest migrating may take at start, by default
/// (`SIGNET_MIGRATION_TIMEOUT_SECS`).
pub const TIMEOUT_SECS: u64 = 900;

/// How migrations run at start.
#[derive(Debug, Clone, Copy)]
pub struct MigrationPolicy {
    /// Apply what is pending; otherwise refuse to start while anything is.
    pub apply: bool,
    /// The longest one statement of a migration waits for another session's lock.
    pub lock_timeout: Duration,
    /// The longest migrating may take, waiting for another replica included.
    pub timeout: Duration,
}

impl Default for MigrationPolicy {
    fn default() -> Self {
        Self {
            apply: true,
            lock_timeout: Duration::from_secs(LOCK_TIMEOUT_SECS),
            timeout: Duration::from_secs(TIMEOUT_SECS),
        }
    }
}

/// A migration this build knows that the database has not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMigration {
    pub version: i64,
    pub description: String,
}

impl std::fmt::Display for PendingMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04} {}", self.version, self.description)
    }
}

/// The migrations of one backend, as this build runs them: without sqlx's
/// blocking lock (see the module doc) and accepting newer ones it does not know.
pub(super) fn migrator(mut m: Migrator) -> Migrator {
    m.set_locking(false);
    m.set_ignore_missing(true);
    m
}

/// The migrations the database records as applied (none before its table exists).
async fn applied<C: sqlx::migrate::Migrate>(
    conn: &mut C,
    table_exists: bool,
) -> Result<Vec<AppliedMigration>> {
    if !table_exists {
        return Ok(Vec::new());
    }
    conn.list_applied_migrations(TABLE)
        .await
        .map_err(migrate_error)
}

/// What this build knows and the database has not applied, oldest first. A
/// shipped migration whose text differs from the applied one is an error: the
/// database was migrated by another build of that migration.
fn pending_of(m: &Migrator, applied: &[AppliedMigration]) -> Result<Vec<PendingMigration>> {
    let mut pending = Vec::new();
    for known in m.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match applied.iter().find(|a| a.version == known.version) {
            Some(a) if a.checksum != known.checksum => {
                return Err(Error::invalid(format!(
                    "migration {:04} applied to this database differs from this build's; \
                     the database was migrated by another build of Signet",
                    known.version
                )));
            }
            Some(_) => {}
            None => pending.push(PendingMigration {
                version: known.version,
                description: known.description.to_string(),
            }),
        }
    }
    Ok(pending)
}

/// A migration error as the domain's: a database that went away is
/// `Unavailable` (start-up retries it), anything else is reported as it is.
fn migrate_error(e: MigrateError) -> Error {
    match e {
        MigrateError::Execute(e) => e.into(),
        MigrateError::ExecuteMigration(e, version) => match Error::from(e) {
            unavailable @ Error::Unavailable(_) => unavailable,
            other => Error::internal(anyhow::anyhow!(
                "migration {version:04} failed: {}",
                std::error::Error::source(&other)
                    .map_or_else(|| other.to_string(), ToString::to_string)
            )),
        },
        other => Error::internal(other),
    }
}

/// Whether a statement stopped because it waited too long for another session
/// (lock_not_available, raised by `lock_timeout`) or was chosen to break a
/// deadlock: both are worth trying again.
fn waited_for_others(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03" || c == "40P01")
}

/// The id of the advisory lock sqlx's migrator takes for a database: its name's
/// CRC-32 times a constant of sqlx's.
fn lock_id(database: &str) -> i64 {
    0x3d32_ad9e * i64::from(crc32fast::hash(database.as_bytes()))
}

/// What of `m` the PostgreSQL database behind `conn` has not applied (all of it
/// before sqlx's table exists, looked up in the search path).
async fn pending_pg(conn: &mut PgConnection, m: &Migrator) -> Result<Vec<PendingMigration>> {
    let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
        .bind(TABLE)
        .fetch_one(&mut *conn)
        .await?;
    pending_of(m, &applied(conn, exists).await?)
}

/// The PostgreSQL migrations this build has and the database at `url` lacks.
pub async fn pending_postgres(url: &str) -> Result<Vec<PendingMigration>> {
    let mut conn = PgConnection::connect(url).await?;
    let pending = pending_pg(&mut conn, &migrator(sqlx::migrate!("migrations/postgres"))).await;
    let _ = conn.close().await;
    pending
}

/// Brings the PostgreSQL database at `url` up to this build's schema (or, when
/// the policy does not apply migrations, checks that it is), on a connection of
/// its own. Returns what it applied.
pub async fn migrate_postgres(
    url: &str,
    policy: &MigrationPolicy,
) -> Result<Vec<PendingMigration>> {
    let m = migrator(sqlx::migrate!("migrations/postgres"));
    let deadline = Instant::now() + policy.timeout;
    let mut conn = PgConnection::connect(url).await?;
    let (database,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&mut conn)
        .await?;
    let lock = lock_id(&database);
    // Every statement of this session, migrations included, waits this long at
    // most for another session's lock.
    let ms = policy.lock_timeout.as_millis().max(1);
    sqlx::query(sqlx::AssertSqlSafe(format!("SET lock_timeout = {ms}")))
        .execute(&mut conn)
        .await?;
    let mut said_waiting = false;
    loop {
        let pending = pending_pg(&mut conn, &m).await?;
        if pending.is_empty() {
            if said_waiting {
                tracing::info!("the other replica's migrations are done");
            }
            let _ = conn.close().await;
            return Ok(Vec::new());
        }
        if !policy.apply {
            return Err(behind(&pending));
        }
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(lock)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            // Read again under the lock: another replica may have finished
            // between the read above and taking the lock.
            let pending = pending_pg(&mut conn, &m).await?;
            let outcome = match pending.is_empty() {
                true => Ok(()),
                false => apply(&mut conn, &m, &pending).await,
            };
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(lock)
                .execute(&mut conn)
                .await?;
            match outcome {
                Ok(()) => {
                    let _ = conn.close().await;
                    return Ok(pending);
                }
                Err(Retry(version)) => tracing::warn!(
                    migration = version,
                    lock_timeout_secs = policy.lock_timeout.as_secs_f64(),
                    "migration {version:04} waited longer than the lock timeout for other \
                     sessions (replicas still serving, a long transaction) and was rolled \
                     back; trying it again"
                ),
                Err(Failed(e)) => return Err(e),
            }
        } else if !said_waiting {
            tracing::info!(
                pending = pending.len(),
                "another replica is migrating the database; waiting for it"
            );
            said_waiting = true;
        }
        if Instant::now() >= deadline {
            return Err(Error::invalid(format!(
                "migrations were still pending after {} s (SIGNET_MIGRATION_TIMEOUT_SECS): \
                 next is {}",
                policy.timeout.as_secs(),
                pending[0]
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Why one run of the migrations stopped.
enum Stopped {
    /// It waited too long for other sessions; run it again.
    Retry(i64),
    Failed(Error),
}
use Stopped::{Failed, Retry};

/// Applies what is pending. An index that a stopped concurrent build of a
/// pending migration left invalid is dropped first: `CREATE INDEX CONCURRENTLY
/// IF NOT EXISTS` would find it and build nothing. While one cannot be dropped
/// yet (it waits for the same sessions), nothing is applied.
async fn apply(
    conn: &mut PgConnection,
    m: &Migrator,
    pending: &[PendingMigration],
) -> std::result::Result<(), Stopped> {
    let invalid: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| Failed(e.into()))?;
    for (name,) in &invalid {
        let Some(owner) = pending
            .iter()
            .filter_map(|p| m.iter().find(|x| x.version == p.version))
            .find(|x| names_index(x, name))
        else {
            continue;
        };
        tracing::info!(index = %name, "dropping the invalid index a stopped build left");
        let quoted = name.replace('"', "\"\"");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP INDEX CONCURRENTLY IF EXISTS \"{quoted}\""
        )))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            if waited_for_others(&e) {
                Retry(owner.version)
            } else {
                Failed(e.into())
            }
        })?;
    }
    tracing::info!(
        from = pending[0].version,
        to = pending[pending.len() - 1].version,
        "applying {} migration(s)",
        pending.len()
    );
    m.run(&mut *conn).await.map_err(|e| match e {
        MigrateError::ExecuteMigration(ref cause, version) if waited_for_others(cause) => {
            Retry(version)
        }
        other => Failed(migrate_error(other)),
    })
}

/// What of `m` the SQLite database behind `conn` has not applied (all of it
/// before sqlx's table exists).
async fn pending_sqlite_on(
    conn: &mut sqlx::SqliteConnection,
    m: &Migrator,
) -> Result<Vec<PendingMigration>> {
    let (exists,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
    )
    .bind(TABLE)
    .fetch_one(&mut *conn)
    .await?;
    pending_of(m, &applied(conn, exists).await?)
}

/// Brings the SQLite database behind `pool` up to this build's schema, or checks
/// that it is. One process owns an SQLite file, so there is no one to wait for.
pub(super) async fn migrate_sqlite(
    pool: &sqlx::SqlitePool,
    policy: &MigrationPolicy,
) -> Result<Vec<PendingMigration>> {
    let m = migrator(sqlx::migrate!("migrations/sqlite"));
    let mut conn = pool.acquire().await?;
    let pending = pending_sqlite_on(&mut conn, &m).await?;
    if pending.is_empty() {
        return Ok(pending);
    }
    if !policy.apply {
        return Err(behind(&pending));
    }
    m.run(&mut *conn).await.map_err(migrate_error)?;
    Ok(pending)
}

/// The SQLite migrations this build has and the database file lacks (all of
/// them when there is no file yet).
pub async fn pending_sqlite(
    options: sqlx::sqlite::SqliteConnectOptions,
) -> Result<Vec<PendingMigration>> {
    let m = migrator(sqlx::migrate!("migrations/sqlite"));
    let mut conn =
        match sqlx::SqliteConnection::connect_with(&options.create_if_missing(false)).await {
            Ok(conn) => conn,
            // SQLITE_CANTOPEN: no file yet, nothing applied.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("14") => {
                return pending_of(&m, &[]);
            }
            Err(e) => return Err(e.into()),
        };
    let pending = pending_sqlite_on(&mut conn, &m).await;
    let _ = conn.close().await;
    pending
}

/// Whether the migration's text names the index (as a whole word).
fn names_index(m: &Migration, index: &str) -> bool {
    m.sql
        .as_str()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == index)
}

/// The refusal of a start that may not migrate on an older schema.
fn behind(pending: &[PendingMigration]) -> Error {
    Error::invalid(format!(
        "the database schema is older than this build needs: {} migration(s) pending \
         ({} to {}); run `signet migrate` first, or start without --no-migrate",
        pending.len(),
        pending[0],
        pending[pending.len() - 1]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_the_one_sqlx_takes() {
        // sqlx-postgres's generate_lock_id("postgres"): 0x3d32ad9e times the
        // CRC-32/ISO-HDLC of the name, 359303029.
        assert_eq!(lock_id("postgres"), 368_907_709_894_077_238);
        assert_ne!(lock_id("postgres"), lock_id("signet"));
    }

    #[test]
    fn an_index_is_named_by_whole_words_only() {
        let m = migrator(sqlx::migrate!("migrations/postgres"));
        let m16 = m.iter().find(|m| m.version == 16).unwrap();
        assert!(names_index(m16, "audit_events_model_outcome"));
        assert!(!names_index(m16, "audit_events_model"));
        assert!(!names_index(m16, "model_outcome"));
    }
}
