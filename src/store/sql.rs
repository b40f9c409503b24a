//! The SQL both backends share. PostgreSQL and SQLite accept the same text here
//! (`$n` parameters, `RETURNING`, `ON CONFLICT`, row values, `substr`), so each
//! statement is written once and compiled against each driver by the macro below.
//! Locking: every write transaction starts by updating the row it depends on
//! (`UPDATE ... WHERE state = 'draft'`), which takes PostgreSQL's row lock and
//! re-checks the condition after waiting; SQLite's `BEGIN IMMEDIATE` serializes
//! writers as a whole.

macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> $crate::error::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn token_by_secret_hash(
                &self,
                hash: &[u8],
            ) -> $crate::error::Result<Option<$crate::store::TokenRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, principal, description, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE secret_hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn bootstrap_admin(
                &self,
                t: &$crate::store::TokenRecord,
                secret_hash: &[u8],
            ) -> $crate::error::Result<bool> {
                let mut tx = self.begin_write().await?;
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
                    .fetch_one(&mut *tx)
                    .await?;
                if n > 0 {
                    return Ok(false);
                }
                insert_token(&mut tx, t, secret_hash).await?;
                sqlx::query(
                    "INSERT INTO role_bindings (principal, namespace, role, created_at) \
                     VALUES ($1, '*', 'admin', $2) ON CONFLICT DO NOTHING",
                )
                .bind(&t.principal)
                .bind(t.created_at)
                .execute(&mut *tx)
                .await?;
                commit(tx).await?;
                Ok(true)
            }

            async fn touch_token(
                &self,
                id: uuid::Uuid,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<()> {
                sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn roles_of(
                &self,
                principal: &str,
            ) -> $crate::error::Result<Vec<$crate::store::RoleBinding>> {
                Ok(sqlx::query_as(
                    "SELECT principal, namespace, role FROM role_bindings WHERE principal = $1",
                )
                .bind(principal)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn create_token(
                &self,
                t: &$crate::store::TokenRecord,
                secret_hash: &[u8],
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                insert_token(&mut tx, t, secret_hash)
                    .await
                    .map_err(|e| $crate::store::map_constraint(e, "token exists"))?;
                commit(tx).await
            }

            async fn get_token(
                &self,
                id: uuid::Uuid,
            ) -> $crate::error::Result<$crate::store::TokenRecord> {
                Ok(sqlx::query_as(
                    "SELECT id, principal, description, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_tokens(
                &self,
                principal: Option<&str>,
                after: uuid::Uuid,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::TokenRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, principal, description, created_at, expires_at, revoked_at, \
                     last_used_at FROM tokens WHERE id > $1 AND (principal = $2 OR $2 = '') \
                     ORDER BY id LIMIT $3",
                )
                .bind(after)
                .bind(principal.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn revoke_token(
                &self,
                id: uuid::Uuid,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                commit(tx).await?;
                Ok(())
            }

            async fn set_roles(
                &self,
                principal: &str,
                namespace: &str,
                roles: &[String],
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM role_bindings WHERE principal = $1 AND namespace = $2")
                    .bind(principal)
                    .bind(namespace)
                    .execute(&mut *tx)
                    .await?;
                for role in roles {
                    sqlx::query(
                        "INSERT INTO role_bindings (principal, namespace, role, created_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(principal)
                    .bind(namespace)
                    .bind(role)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                commit(tx).await?;
                Ok(())
            }

            async fn members(
                &self,
                namespace: &str,
                after: &str,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::RoleBinding>> {
                // Page by principal: take the first `limit` principals, with all their roles.
                Ok(sqlx::query_as(
                    "SELECT principal, namespace, role FROM role_bindings \
                     WHERE namespace = $1 AND principal IN \
                       (SELECT DISTINCT principal FROM role_bindings \
                        WHERE namespace = $1 AND principal > $2 ORDER BY principal LIMIT $3) \
                     ORDER BY principal, role",
                )
                .bind(namespace)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn remove_member(
                &self,
                namespace: &str,
                principal: &str,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "DELETE FROM role_bindings WHERE principal = $1 AND namespace = $2",
                )
                .bind(principal)
                .bind(namespace)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::error::Error::NotFound);
                }
                commit(tx).await?;
                Ok(())
            }

            async fn create_namespace(
                &self,
                ns: &$crate::store::NamespaceRecord,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO namespaces (name, description, created_at, created_by) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&ns.name)
                .bind(&ns.description)
                .bind(ns.created_at)
                .bind(&ns.created_by)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::store::map_constraint(e, "the namespace exists"))?;
                commit(tx).await?;
                Ok(())
            }

            async fn get_namespace(
                &self,
                name: &str,
            ) -> $crate::error::Result<$crate::store::NamespaceRecord> {
                Ok(sqlx::query_as(
                    "SELECT name, description, created_at, created_by FROM namespaces \
                     WHERE name = $1",
                )
                .bind(name)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_namespaces(
                &self,
                vis: &$crate::store::Visibility,
                after: &str,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::NamespaceRecord>> {
                let (all, principal) = visibility(vis);
                Ok(sqlx::query_as(
                    "SELECT name, description, created_at, created_by FROM namespaces \
                     WHERE name > $1 AND ($2 OR name IN \
                       (SELECT namespace FROM role_bindings WHERE principal = $3)) \
                     ORDER BY name LIMIT $4",
                )
                .bind(after)
                .bind(all)
                .bind(principal)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn create_model(
                &self,
                m: &$crate::store::ModelRecord,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO models (id, namespace, name, description, created_at, \
                     created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(m.id)
                .bind(&m.namespace)
                .bind(&m.name)
                .bind(&m.description)
                .bind(m.created_at)
                .bind(&m.created_by)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::store::map_constraint(e, "the model exists"))?;
                commit(tx).await?;
                Ok(())
            }

            async fn get_model(
                &self,
                namespace: &str,
                name: &str,
            ) -> $crate::error::Result<$crate::store::ModelRecord> {
                Ok(sqlx::query_as(
                    "SELECT m.id, m.namespace, m.name, m.description, m.created_at, \
                     m.created_by, (SELECT MAX(v.version) FROM versions v \
                     WHERE v.model_id = m.id) AS latest_version \
                     FROM models m WHERE m.namespace = $1 AND m.name = $2",
                )
                .bind(namespace)
                .bind(name)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_models(
                &self,
                vis: &$crate::store::Visibility,
                namespace: Option<&str>,
                after: (&str, &str),
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::ModelRecord>> {
                let (all, principal) = visibility(vis);
                Ok(sqlx::query_as(
                    "SELECT m.id, m.namespace, m.name, m.description, m.created_at, \
                     m.created_by, (SELECT MAX(v.version) FROM versions v \
                     WHERE v.model_id = m.id) AS latest_version \
                     FROM models m \
                     WHERE (m.namespace, m.name) > ($1, $2) \
                       AND (m.namespace = $3 OR $3 = '') \
                       AND ($4 OR m.namespace IN \
                         (SELECT namespace FROM role_bindings WHERE principal = $5)) \
                     ORDER BY m.namespace, m.name LIMIT $6",
                )
                .bind(after.0)
                .bind(after.1)
                .bind(namespace.unwrap_or(""))
                .bind(all)
                .bind(principal)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn create_version(
                &self,
                namespace: &str,
                model: &str,
                v: &$crate::store::NewVersion,
            ) -> $crate::error::Result<$crate::store::VersionRecord> {
                let mut tx = self.begin_write().await?;
                // The counter bump takes the model's row lock: concurrent creators
                // queue here and each gets the next number. A failure rolls the bump
                // back with the insert, so no number is skipped.
                let (model_id, number): (uuid::Uuid, i64) = sqlx::query_as(
                    "UPDATE models SET next_version = next_version + 1 \
                     WHERE namespace = $1 AND name = $2 RETURNING id, next_version - 1",
                )
                .bind(namespace)
                .bind(model)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO versions (id, model_id, version, state, lineage, metadata, \
                     created_at, created_by, code_commit) \
                     VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8)",
                )
                .bind(v.id)
                .bind(model_id)
                .bind(number)
                .bind(sqlx::types::Json(&v.lineage))
                .bind(sqlx::types::Json(&v.metadata))
                .bind(v.created_at)
                .bind(&v.created_by)
                .bind(&v.code_commit)
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
                commit(tx).await?;
                self.get_version(namespace, model, number).await
            }

            async fn get_version(
                &self,
                namespace: &str,
                model: &str,
                version: i64,
            ) -> $crate::error::Result<$crate::store::VersionRecord> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::version_select!(),
                    " WHERE m.namespace = $1 AND m.name = $2 AND v.version = $3"
                ))
                .bind(namespace)
                .bind(model)
                .bind(version)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_versions(
                &self,
                namespace: &str,
                model: &str,
                before: i64,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::VersionRecord>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::version_select!(),
                    " WHERE m.namespace = $1 AND m.name = $2 AND v.version < $3 \
                     ORDER BY v.version DESC LIMIT $4"
                ))
                .bind(namespace)
                .bind(model)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn files_of(
                &self,
                version_id: uuid::Uuid,
            ) -> $crate::error::Result<Vec<$crate::store::FileRecord>> {
                Ok(sqlx::query_as(
                    "SELECT path, size, sha256, blob_id, created_at, format FROM files \
                     WHERE version_id = $1 ORDER BY path",
                )
                .bind(version_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn put_file(
                &self,
                version_id: uuid::Uuid,
                f: &$crate::store::FileRecord,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                lock_draft(&mut tx, version_id).await?;
                // A path cannot be a file and a directory at once: refuse `a/b` when
                // `a` is a file, and `a` when some `a/...` exists.
                let prefix = format!("{}/", f.path);
                let clash: Option<String> = sqlx::query_scalar(
                    "SELECT path FROM files WHERE version_id = $1 AND path <> $2 AND \
                     (substr($2, 1, length(path) + 1) = path || '/' \
                      OR substr(path, 1, $3) = $4) LIMIT 1",
                )
                .bind(version_id)
                .bind(&f.path)
                .bind(prefix.len() as i32)
                .bind(&prefix)
                .fetch_optional(&mut *tx)
                .await?;
                if clash.is_some() {
                    return Err($crate::error::Error::Conflict(
                        "the path clashes with a file or directory of the version".into(),
                    ));
                }
                sqlx::query(
                    "INSERT INTO files (version_id, path, size, sha256, blob_id, created_at, \
                     format) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (version_id, path) DO UPDATE \
                     SET size = excluded.size, sha256 = excluded.sha256, \
                     blob_id = excluded.blob_id, created_at = excluded.created_at, \
                     format = excluded.format",
                )
                .bind(version_id)
                .bind(&f.path)
                .bind(f.size)
                .bind(&f.sha256)
                .bind(f.blob_id)
                .bind(f.created_at)
                .bind(&f.format)
                .execute(&mut *tx)
                .await?;
                commit(tx).await?;
                Ok(())
            }

            async fn delete_file(
                &self,
                version_id: uuid::Uuid,
                path: &str,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                lock_draft(&mut tx, version_id).await?;
                let n = sqlx::query("DELETE FROM files WHERE version_id = $1 AND path = $2")
                    .bind(version_id)
                    .bind(path)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::error::Error::NotFound);
                }
                commit(tx).await?;
                Ok(())
            }

            async fn seal_version(
                &self,
                version_id: uuid::Uuid,
                at: chrono::DateTime<chrono::Utc>,
                root: &$crate::store::RootFn,
            ) -> $crate::error::Result<$crate::store::VersionRecord> {
                let mut tx = self.begin_write().await?;
                lock_draft(&mut tx, version_id).await?;
                // Read after the lock: an upload that committed first is included,
                // one still waiting will find the version sealed and fail.
                let files: Vec<$crate::store::FileRecord> = sqlx::query_as(
                    "SELECT path, size, sha256, blob_id, created_at, format FROM files \
                     WHERE version_id = $1",
                )
                .bind(version_id)
                .fetch_all(&mut *tx)
                .await?;
                if files.is_empty() {
                    return Err($crate::error::Error::EmptyVersion);
                }
                sqlx::query(
                    "UPDATE versions SET state = 'sealed', sealed_at = $2, root_digest = $3 \
                     WHERE id = $1",
                )
                .bind(version_id)
                .bind(at)
                .bind(root(&files))
                .execute(&mut *tx)
                .await?;
                let v = sqlx::query_as(concat!($crate::store::sql::version_select!(), " WHERE v.id = $1"))
                    .bind(version_id)
                    .fetch_one(&mut *tx)
                    .await?;
                commit(tx).await?;
                Ok(v)
            }

            async fn get_policy(&self, namespace: &str) -> $crate::error::Result<serde_json::Value> {
                let p: sqlx::types::Json<serde_json::Value> =
                    sqlx::query_scalar("SELECT policy FROM namespaces WHERE name = $1")
                        .bind(namespace)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(p.0)
            }

            async fn set_policy(
                &self,
                namespace: &str,
                policy: &serde_json::Value,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("UPDATE namespaces SET policy = $2 WHERE name = $1")
                    .bind(namespace)
                    .bind(sqlx::types::Json(policy))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err($crate::error::Error::NotFound);
                }
                commit(tx).await?;
                Ok(())
            }

            async fn create_key(&self, k: &$crate::store::KeyRecord) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO keys (keyid, name, algorithm, public_key, namespaces, expires_at, \
                     created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&k.keyid)
                .bind(&k.name)
                .bind(&k.algorithm)
                .bind(&k.public_key)
                .bind(&k.namespaces)
                .bind(k.expires_at)
                .bind(k.created_at)
                .bind(&k.created_by)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::store::map_constraint(e, "this key is already registered"))?;
                commit(tx).await?;
                Ok(())
            }

            async fn get_key(&self, keyid: &str) -> $crate::error::Result<$crate::store::KeyRecord> {
                Ok(sqlx::query_as(concat!($crate::store::sql::key_select!(), " WHERE keyid = $1"))
                    .bind(keyid)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn list_keys(
                &self,
                after: &str,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::KeyRecord>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::key_select!(),
                    " WHERE keyid > $1 ORDER BY keyid LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn all_keys(&self) -> $crate::error::Result<Vec<$crate::store::KeyRecord>> {
                Ok(sqlx::query_as($crate::store::sql::key_select!())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn revoke_key(
                &self,
                keyid: &str,
                reason: &str,
                note: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                // A retired key can still be declared compromised later; nothing
                // else overwrites a revocation.
                let n = sqlx::query(
                    "UPDATE keys SET revoked_at = $2, revocation_reason = $3, revocation_note = $4 \
                     WHERE keyid = $1 AND (revoked_at IS NULL \
                       OR (revocation_reason = 'retired' AND $3 = 'compromised'))",
                )
                .bind(keyid)
                .bind(at)
                .bind(reason)
                .bind(note)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    self.get_key(keyid).await?;
                    return Err($crate::error::Error::Conflict("the key is already revoked".into()));
                }
                commit(tx).await?;
                Ok(())
            }

            async fn add_signature(
                &self,
                version_id: uuid::Uuid,
                s: &$crate::store::SignatureRecord,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO signatures (version_id, keyid, envelope, received_at, received_by) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(version_id)
                .bind(&s.keyid)
                .bind(&s.envelope)
                .bind(s.received_at)
                .bind(&s.received_by)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::store::map_constraint(e, "this key already signed the version"))?;
                commit(tx).await?;
                Ok(())
            }

            async fn signatures_of(
                &self,
                version_id: uuid::Uuid,
            ) -> $crate::error::Result<Vec<$crate::store::SignatureRecord>> {
                Ok(sqlx::query_as(
                    "SELECT keyid, envelope, received_at, received_by FROM signatures \
                     WHERE version_id = $1 ORDER BY received_at, keyid",
                )
                .bind(version_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn versions_signed_by(
                &self,
                keyid: &str,
            ) -> $crate::error::Result<Vec<$crate::store::VersionRecord>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::version_select!(),
                    " WHERE v.id IN (SELECT version_id FROM signatures WHERE keyid = $1) \
                     ORDER BY m.namespace, m.name, v.version"
                ))
                .bind(keyid)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn move_alias(
                &self,
                mv: &$crate::store::NewAliasMove<'_>,
            ) -> $crate::error::Result<Option<i64>> {
                let $crate::store::NewAliasMove { namespace, model, alias, version, principal, reason, at } = *mv;
                let mut tx = self.begin_write().await?;
                let model_id: uuid::Uuid =
                    sqlx::query_scalar("SELECT id FROM models WHERE namespace = $1 AND name = $2")
                        .bind(namespace)
                        .bind(model)
                        .fetch_one(&mut *tx)
                        .await?;
                sqlx::query(
                    "INSERT INTO aliases (model_id, alias, version, updated_at, updated_by) \
                     VALUES ($1, $2, NULL, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(model_id)
                .bind(alias)
                .bind(at)
                .bind(principal)
                .execute(&mut *tx)
                .await?;
                // The update takes the alias row's lock: concurrent moves of one alias
                // queue here, and each records the version the previous one set.
                let previous: Option<i64> = sqlx::query_scalar(
                    "UPDATE aliases SET updated_at = $3, updated_by = $4 \
                     WHERE model_id = $1 AND alias = $2 RETURNING version",
                )
                .bind(model_id)
                .bind(alias)
                .bind(at)
                .bind(principal)
                .fetch_one(&mut *tx)
                .await?;
                if version.is_none() && previous.is_none() {
                    return Err($crate::error::Error::NotFound);
                }
                sqlx::query("UPDATE aliases SET version = $3 WHERE model_id = $1 AND alias = $2")
                    .bind(model_id)
                    .bind(alias)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO alias_history (model_id, alias, version, previous_version, \
                     principal, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(model_id)
                .bind(alias)
                .bind(version)
                .bind(previous)
                .bind(principal)
                .bind(reason)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                commit(tx).await?;
                Ok(previous)
            }

            async fn aliases_of(
                &self,
                namespace: &str,
                model: &str,
            ) -> $crate::error::Result<Vec<(String, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT a.alias, a.version FROM aliases a JOIN models m ON m.id = a.model_id \
                     WHERE m.namespace = $1 AND m.name = $2 AND a.version IS NOT NULL \
                     ORDER BY a.alias",
                )
                .bind(namespace)
                .bind(model)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn alias_history(
                &self,
                namespace: &str,
                model: &str,
                alias: &str,
                before: i64,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::AliasMove>> {
                Ok(sqlx::query_as(
                    "SELECT h.id, h.alias, h.version, h.previous_version, h.principal, h.reason, \
                     h.at FROM alias_history h JOIN models m ON m.id = h.model_id \
                     WHERE m.namespace = $1 AND m.name = $2 AND h.alias = $3 AND h.id < $4 \
                     ORDER BY h.id DESC LIMIT $5",
                )
                .bind(namespace)
                .bind(model)
                .bind(alias)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn lineage(
                &self,
                seed: &$crate::store::LineageSeed,
                dir: $crate::store::Direction,
            ) -> $crate::error::Result<Vec<$crate::store::LineageHit>> {
                use $crate::store::{Direction::*, LineageSeed::*};
                macro_rules! walk {
                    ($seed:literal, $step:literal) => {
                        concat!(
                            "WITH RECURSIVE closure(id, depth) AS (",
                            $seed,
                            " UNION ALL ",
                            $step,
                            ") SELECT ",
                            $crate::store::sql::version_columns!(),
                            ", (SELECT MIN(c.depth) FROM closure c WHERE c.id = v.id) AS depth",
                            " FROM versions v JOIN models m ON m.id = v.model_id",
                            " WHERE v.id IN (SELECT id FROM closure)",
                            " ORDER BY depth, m.namespace, m.name, v.version"
                        )
                    };
                }
                let sql = match (seed, dir) {
                    (Dataset(_), Descendants) => walk!(
                        "SELECT version_id, CAST(0 AS BIGINT) FROM version_datasets WHERE sha256 = $1",
                        "SELECT vp.version_id, c.depth + 1 FROM version_parents vp JOIN closure c ON vp.parent_id = c.id"
                    ),
                    (Commit(_), Descendants) => walk!(
                        "SELECT id, CAST(0 AS BIGINT) FROM versions WHERE code_commit = $1",
                        "SELECT vp.version_id, c.depth + 1 FROM version_parents vp JOIN closure c ON vp.parent_id = c.id"
                    ),
                    (Version(_), Descendants) => walk!(
                        "SELECT id, CAST(0 AS BIGINT) FROM versions WHERE id = $1",
                        "SELECT vp.version_id, c.depth + 1 FROM version_parents vp JOIN closure c ON vp.parent_id = c.id"
                    ),
                    (Version(_), Ancestors) => walk!(
                        "SELECT id, CAST(0 AS BIGINT) FROM versions WHERE id = $1",
                        "SELECT vp.parent_id, c.depth + 1 FROM version_parents vp JOIN closure c ON vp.version_id = c.id"
                    ),
                    (_, Ancestors) => {
                        return Err($crate::error::Error::invalid(
                            "ancestors start from a version",
                        ))
                    }
                };
                let q = sqlx::query_as(sql);
                let q = match seed {
                    Dataset(s) | Commit(s) => q.bind(s.clone()),
                    Version(id) => q.bind(*id),
                };
                Ok(q.fetch_all(&self.pool).await?)
            }

            async fn is_quarantined(&self, version_id: uuid::Uuid) -> $crate::error::Result<bool> {
                let n: i64 = sqlx::query_scalar(
                    "WITH RECURSIVE a(id) AS ( \
                       SELECT id FROM versions WHERE id = $1 \
                       UNION SELECT vp.parent_id FROM version_parents vp JOIN a ON vp.version_id = a.id) \
                     SELECT COUNT(*) FROM a JOIN versions v ON v.id = a.id \
                     JOIN models m ON m.id = v.model_id \
                     WHERE EXISTS (SELECT 1 FROM quarantines q WHERE q.lifted_at IS NULL AND ( \
                       (q.kind = 'version' \
                         AND q.value = m.namespace || '/' || m.name || '@' || CAST(v.version AS TEXT)) \
                       OR (q.kind = 'commit' AND q.value = v.code_commit) \
                       OR (q.kind = 'dataset' AND q.value IN \
                         (SELECT d.sha256 FROM version_datasets d WHERE d.version_id = v.id))))",
                )
                .bind(version_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }

            async fn create_quarantine(
                &self,
                q: &$crate::store::QuarantineRecord,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO quarantines (id, kind, value, reason, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(q.id)
                .bind(&q.kind)
                .bind(&q.value)
                .bind(&q.reason)
                .bind(q.created_at)
                .bind(&q.created_by)
                .execute(&mut *tx)
                .await?;
                commit(tx).await?;
                Ok(())
            }

            async fn get_quarantine(
                &self,
                id: uuid::Uuid,
            ) -> $crate::error::Result<$crate::store::QuarantineRecord> {
                Ok(sqlx::query_as(concat!($crate::store::sql::quarantine_select!(), " WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn list_quarantines(
                &self,
                after: uuid::Uuid,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::store::QuarantineRecord>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::quarantine_select!(),
                    " WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn lift_quarantine(
                &self,
                id: uuid::Uuid,
                by: &str,
                reason: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE quarantines SET lifted_at = $2, lifted_by = $3, lift_reason = $4 \
                     WHERE id = $1 AND lifted_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .bind(by)
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    self.get_quarantine(id).await?;
                    return Err($crate::error::Error::Conflict("the quarantine is already lifted".into()));
                }
                commit(tx).await?;
                Ok(())
            }

            async fn append_audit(
                &self,
                events: Vec<$crate::audit::Event>,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                append_audit(&mut tx, events)
                    .await
                    .map_err(|err| $crate::error::Error::Unavailable(err.into()))?;
                // Not `commit`: these are requests' events themselves.
                tx.commit().await?;
                Ok(())
            }

            async fn prune_audit(
                &self,
                old_anchor: i64,
                through: i64,
                hash: &str,
            ) -> $crate::error::Result<()> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE audit_head SET anchor_seq = $2, anchor_hash = $3 \
                     WHERE id = 1 AND anchor_seq = $1",
                )
                .bind(old_anchor)
                .bind(through)
                .bind(hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err($crate::error::Error::Conflict(
                        "another archive run moved the anchor".into(),
                    ));
                }
                sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                    .bind(through)
                    .execute(&mut *tx)
                    .await?;
                // Not `commit`: no request is being recorded here.
                tx.commit().await?;
                Ok(())
            }

            async fn audit_head(&self) -> $crate::error::Result<$crate::store::AuditHead> {
                Ok(sqlx::query_as(
                    "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1",
                )
                .fetch_one(&self.pool)
                .await?)
            }

            async fn audit_after(
                &self,
                after: i64,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::audit::ChainedEvent>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::audit_select!(),
                    " WHERE seq > $1 ORDER BY seq LIMIT $2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn query_audit(
                &self,
                f: &$crate::store::AuditFilter,
                before: i64,
                limit: i64,
            ) -> $crate::error::Result<Vec<$crate::audit::ChainedEvent>> {
                // Only the filters given appear in the statement, so the planner can
                // use the index of the most selective one; values are always bound.
                let conds: [(&str, &Option<String>); 8] = [
                    ("principal = ", &f.principal),
                    ("action = ", &f.action),
                    ("namespace = ", &f.namespace),
                    ("model = ", &f.model),
                    ("outcome = ", &f.outcome),
                    ("at >= ", &f.since),
                    ("at < ", &f.until),
                    ("request_id = ", &f.request_id),
                ];
                let mut sql = format!("{} WHERE seq < $1", $crate::store::sql::audit_select!());
                let mut n = 1;
                for (cond, v) in &conds {
                    if v.is_some() {
                        n += 1;
                        sql.push_str(&format!(" AND {cond}${n}"));
                    }
                }
                sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", n + 1));
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(before);
                for (_, v) in conds {
                    if let Some(v) = v {
                        q = q.bind(v.clone());
                    }
                }
                Ok(q.bind(limit).fetch_all(&self.pool).await?)
            }

            async fn referenced_blobs(
                &self,
                ids: &[uuid::Uuid],
            ) -> $crate::error::Result<Vec<uuid::Uuid>> {
                let mut found = Vec::new();
                for id in ids {
                    let hit: Option<uuid::Uuid> =
                        sqlx::query_scalar("SELECT blob_id FROM files WHERE blob_id = $1")
                            .bind(id)
                            .fetch_optional(&self.pool)
                            .await?;
                    found.extend(hit);
                }
                Ok(found)
            }
        }

        /// Commits a write, with the request's audit event appended in the same
        /// transaction: the change and its record commit together or not at all.
        async fn commit(mut tx: $crate::store::WriteTx<$db>) -> $crate::error::Result<()> {
            if let Some(e) = $crate::audit::take_pending(chrono::Utc::now()) {
                if let Err(err) = append_audit(&mut tx, vec![e]).await {
                    $crate::audit::untake();
                    return Err($crate::error::Error::Unavailable(err.into()));
                }
            }
            tx.commit().await.map_err(|e| {
                $crate::audit::untake();
                $crate::error::Error::from(e)
            })
        }

        /// Appends events to the chain, in order. The head row's update is the lock
        /// that serializes appenders (across replicas too), so sequence numbers are
        /// gap-free and every hash covers the previous one.
        async fn append_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            events: Vec<$crate::audit::Event>,
        ) -> Result<(), sqlx::Error> {
            let (last, mut prev): (i64, String) = sqlx::query_as(
                "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash",
            )
            .bind(events.len() as i64)
            .fetch_one(&mut *conn)
            .await?;
            let mut seq = last - events.len() as i64;
            for mut e in events {
                seq += 1;
                e.seq = seq;
                let hash = $crate::audit::chain_hash(&prev, &e);
                sqlx::query(
                    "INSERT INTO audit_events (seq, at, request_id, principal, token_id, action, \
                     namespace, model, resource, outcome, status, client_addr, detail, \
                     prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(e.seq)
                .bind(&e.at)
                .bind(&e.request_id)
                .bind(&e.principal)
                .bind(&e.token_id)
                .bind(&e.action)
                .bind(&e.namespace)
                .bind(&e.model)
                .bind(&e.resource)
                .bind(&e.outcome)
                .bind(e.status)
                .bind(&e.client_addr)
                .bind(&e.detail)
                .bind(&prev)
                .bind(&hash)
                .execute(&mut *conn)
                .await?;
                prev = hash;
            }
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                .bind(&prev)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        async fn insert_token(
            conn: &mut <$db as sqlx::Database>::Connection,
            t: &$crate::store::TokenRecord,
            secret_hash: &[u8],
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO tokens (id, principal, secret_hash, description, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(t.id)
            .bind(&t.principal)
            .bind(secret_hash)
            .bind(&t.description)
            .bind(t.created_at)
            .bind(t.expires_at)
            .execute(conn)
            .await?;
            Ok(())
        }

        /// Takes the version's write lock and checks it is still a draft.
        async fn lock_draft(
            tx: &mut $crate::store::WriteTx<$db>,
            version_id: uuid::Uuid,
        ) -> $crate::error::Result<()> {
            let n = sqlx::query("UPDATE versions SET state = state WHERE id = $1 AND state = 'draft'")
                .bind(version_id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err($crate::error::Error::VersionSealed);
            }
            Ok(())
        }

        fn visibility(vis: &$crate::store::Visibility) -> (bool, &str) {
            match vis {
                $crate::store::Visibility::All => (true, ""),
                $crate::store::Visibility::MemberOf(p) => (false, p.as_str()),
            }
        }
    };
}

/// The columns of a version with its model's names (`v` versions, `m` models).
macro_rules! version_columns {
    () => {
        "v.id, m.namespace, m.name AS model, v.version, v.state, v.lineage, v.metadata, \
         v.created_at, v.created_by, v.sealed_at, v.root_digest"
    };
}

/// A version with its model's names.
macro_rules! version_select {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::version_columns!(),
            " FROM versions v JOIN models m ON m.id = v.model_id"
        )
    };
}

/// The columns of an audit event.
macro_rules! audit_select {
    () => {
        "SELECT seq, at, request_id, principal, token_id, action, namespace, model, resource, \
         outcome, status, client_addr, detail, prev_hash, hash FROM audit_events"
    };
}

/// The columns of a quarantine.
macro_rules! quarantine_select {
    () => {
        "SELECT id, kind, value, reason, created_at, created_by, lifted_at, lifted_by, \
         lift_reason FROM quarantines"
    };
}

/// The columns of a key.
macro_rules! key_select {
    () => {
        "SELECT keyid, name, algorithm, public_key, namespaces, expires_at, created_at, \
         created_by, revoked_at, revocation_reason, revocation_note FROM keys"
    };
}

pub(crate) use audit_select;
pub(crate) use impl_sql_store;
pub(crate) use key_select;
pub(crate) use quarantine_select;
pub(crate) use version_columns;
pub(crate) use version_select;
