//! The schema and its migrations, applied when a store opens.
//!
//! `coffer_schema` holds one row: the version of the schema the tables are at. Opening
//! applies each migration above it, each in its own transaction together with the version
//! bump, so a crash leaves the schema at one version or the next. A schema newer than this
//! binary knows is refused: an older gateway must not write records a newer one reads
//! differently.
//!
//! Written for PostgreSQL and for the databases that speak its protocol (CockroachDB,
//! YugabyteDB): no sequences or serial keys (no key grows monotonically, so no range of a
//! distributed table is hot), no advisory locks, no LISTEN/NOTIFY.
//!
//! Every record is stored as `bytea` holding the very serde JSON the embedded backend
//! writes, so that `coffer admin migrate` can copy records verbatim; beside it, the columns
//! that queries need (an object's ETag, blobs and SSE-S3 master-key version). Keys that are
//! listed in order are `text COLLATE "C"`: compared byte by byte, as S3 lists, whatever the
//! database's locale.

use coffer_store::{StoreError, StoreResult};
use deadpool_postgres::Pool;

use crate::retry::{Attempt, Fail, retrying};

/// One step of the schema, from version `i` to `i + 1` for the `i`th of [`MIGRATIONS`].
enum Migration {
    /// Statements every engine runs.
    Everywhere(&'static str),
    /// Statements only PostgreSQL itself runs: storage settings that CockroachDB and
    /// YugabyteDB (which keep rows their own way) do not have. There the step only moves
    /// the version.
    PostgresOnly(&'static str),
}

const MIGRATIONS: &[Migration] = &[
    // 1: everything the embedded store holds.
    Migration::Everywhere(
        r#"
    CREATE TABLE coffer_buckets (
        name text COLLATE "C" PRIMARY KEY,
        record bytea NOT NULL
    );
    CREATE TABLE coffer_objects (
        bucket text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        etag text NOT NULL,
        -- The SSE-S3 master-key version the data key is sealed under (NULL: none).
        master_version bigint,
        -- The blobs the record names, in order, for reference counting in SQL.
        blobs text[] NOT NULL,
        record bytea NOT NULL,
        -- The blobs of the record this one replaced, set by the upsert that replaced it, so
        -- that it can return them without first reading the row (see `objects`).
        prev_blobs text[],
        PRIMARY KEY (bucket, key)
    );
    CREATE INDEX coffer_objects_master_version ON coffer_objects (master_version)
        WHERE master_version IS NOT NULL;
    CREATE TABLE coffer_uploads (
        upload_id text COLLATE "C" PRIMARY KEY,
        bucket text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        master_version bigint,
        record bytea NOT NULL
    );
    CREATE INDEX coffer_uploads_by_bucket ON coffer_uploads (bucket, key, upload_id);
    CREATE TABLE coffer_parts (
        upload_id text COLLATE "C" NOT NULL,
        number bigint NOT NULL,
        blob text NOT NULL,
        record bytea NOT NULL,
        -- The blob of the part this one replaced, as `prev_blobs` of objects.
        prev_blob text,
        PRIMARY KEY (upload_id, number)
    );
    -- How many records (objects and parts) name each blob; a blob is freed when its count
    -- reaches zero. Counts change by relative upserts, which read nothing, so a row may stay
    -- at zero until garbage collection prunes it (`drop_stale_blob_intents`).
    CREATE TABLE coffer_blob_refs (
        blob text COLLATE "C" PRIMARY KEY,
        n bigint NOT NULL
    );
    CREATE INDEX coffer_blob_refs_unreferenced ON coffer_blob_refs (blob) WHERE n <= 0;
    CREATE TABLE coffer_blob_intents (
        blob text COLLATE "C" PRIMARY KEY,
        at_ms bigint NOT NULL
    );
    CREATE INDEX coffer_blob_intents_at ON coffer_blob_intents (at_ms);
    CREATE TABLE coffer_completed_uploads (
        upload_id text COLLATE "C" PRIMARY KEY,
        completed_ms bigint NOT NULL,
        record bytea NOT NULL
    );
    CREATE INDEX coffer_completed_uploads_at ON coffer_completed_uploads (completed_ms);
    -- SSE-S3 master-key versions below `floor` are retired.
    CREATE TABLE coffer_master_floor (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        floor bigint NOT NULL
    );
    -- KMS records by id, each with the last version it was given. A deleted record keeps its
    -- row (record NULL) so that its version never repeats.
    CREATE TABLE coffer_kms (
        id text COLLATE "C" PRIMARY KEY,
        version bigint NOT NULL,
        record bytea
    );
    CREATE TABLE coffer_settings (
        name text COLLATE "C" PRIMARY KEY,
        value bytea NOT NULL
    );
    -- Audit records committed with a KMS change, until the trail holds them.
    CREATE TABLE coffer_audit_outbox (
        record_id text COLLATE "C" NOT NULL,
        at_ns bigint NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (record_id, at_ns)
    );
    CREATE INDEX coffer_audit_outbox_order ON coffer_audit_outbox (at_ns, record_id);
    -- The chain's anchor and how far the index reaches.
    CREATE TABLE coffer_audit_state (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        anchor bytea,
        anchor_seq bigint NOT NULL,
        indexed_through bigint NOT NULL
    );
    -- The index: each record by its chain position (given by the audit layer), and one row
    -- per term it is found by.
    CREATE TABLE coffer_audit_records (
        seq bigint PRIMARY KEY,
        record bytea NOT NULL
    );
    CREATE TABLE coffer_audit_terms (
        term text COLLATE "C" NOT NULL,
        time text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (term, time, seq)
    );
    "#,
    ),
    // 2: leases, so that one gateway at a time runs each chore. Timed by the database's
    // clock; the token grows each time a lease changes hands.
    Migration::Everywhere(
        r#"
    CREATE TABLE coffer_leases (
        name text COLLATE "C" PRIMARY KEY,
        holder text NOT NULL,
        token bigint NOT NULL,
        expires_ms bigint NOT NULL
    );
    "#,
    ),
    // 3: one audit trail for every gateway. Each gateway's records form a stream of their
    // own, keyed (stream, seq): appends from several gateways meet no common row, and no key
    // grows across the whole table. The anchor and the index's reach are per stream; the
    // trail's files that are rewritten (its state, by compare-and-swap) live here too.
    Migration::Everywhere(
        r#"
    CREATE TABLE coffer_audit_journal (
        stream text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        line bytea NOT NULL,
        PRIMARY KEY (stream, seq)
    );
    CREATE TABLE coffer_audit_streams (
        stream text COLLATE "C" PRIMARY KEY,
        anchor bytea,
        anchor_seq bigint NOT NULL,
        indexed_through bigint NOT NULL
    );
    INSERT INTO coffer_audit_streams (stream, anchor, anchor_seq, indexed_through)
        SELECT '', anchor, anchor_seq, indexed_through FROM coffer_audit_state;
    DROP TABLE coffer_audit_state;
    CREATE TABLE coffer_audit_files (
        name text COLLATE "C" PRIMARY KEY,
        content bytea NOT NULL
    );
    ALTER TABLE coffer_audit_records ADD COLUMN stream text COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE coffer_audit_records DROP CONSTRAINT coffer_audit_records_pkey;
    ALTER TABLE coffer_audit_records ADD PRIMARY KEY (stream, seq);
    ALTER TABLE coffer_audit_terms ADD COLUMN stream text COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE coffer_audit_terms DROP CONSTRAINT coffer_audit_terms_pkey;
    ALTER TABLE coffer_audit_terms ADD PRIMARY KEY (term, time, stream, seq);
    "#,
    ),
    // 4: a term's rows spread over shards. Keyed (term, time, …), every gateway's new rows
    // for a busy term ("event:Decrypt") landed at the end of one key range: the hot,
    // ever-growing key CockroachDB and YugabyteDB split and rebalance badly. A shard taken
    // from the record's position comes first, so consecutive records go to different
    // ranges; a lookup reads each shard newest first and merges them (see audit.rs). Rows
    // already there stay in shard 0, where lookups find them all the same: no rewrite of
    // the whole index on upgrade, and no write to a column added in the same transaction
    // (which CockroachDB refuses).
    Migration::Everywhere(
        r#"
    ALTER TABLE coffer_audit_terms ADD COLUMN shard smallint NOT NULL DEFAULT 0;
    ALTER TABLE coffer_audit_terms DROP CONSTRAINT coffer_audit_terms_pkey;
    ALTER TABLE coffer_audit_terms ADD PRIMARY KEY (term, shard, time, stream, seq);
    "#,
    ),
    // 5: object records are stored as they are. A record carrying a small object's sealed
    // bytes (base64, up to ~22 KB) is past TOAST's 2 KB threshold, so PostgreSQL tried to
    // compress it (pglz, a sixth of the database's CPU in a 4 KiB PUT profile), always in
    // vain (ciphertext), then moved it out of line. Rows up to a page now stay in the heap
    // page whole; longer ones go out of line uncompressed. Existing rows are left as they
    // are; only the catalogue changes.
    Migration::PostgresOnly(
        r#"
    ALTER TABLE coffer_objects SET (toast_tuple_target = 8160);
    ALTER TABLE coffer_objects ALTER COLUMN record SET STORAGE EXTERNAL;
    "#,
    ),
];

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

async fn current_version(client: &deadpool_postgres::Transaction<'_>) -> Attempt<i64> {
    let row = client
        .query_opt("SELECT version FROM coffer_schema WHERE only_row", &[])
        .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// One step: the next migration and the version bump in one transaction. Two gateways
/// starting at once both try it; the database lets one commit and refuses the other, which
/// then finds the step done.
async fn step(pool: &Pool) -> Attempt<bool> {
    let mut client = pool.get().await?;
    let txn = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::Serializable)
        .start()
        .await?;
    let version = current_version(&txn).await?;
    if version > SCHEMA_VERSION {
        return Err(Fail::Store(StoreError::Database(format!(
            "the postgres schema is at version {version}, newer than this binary's \
             {SCHEMA_VERSION}: run the newer Coffer, or restore a matching backup"
        ))));
    }
    let Some(migration) = usize::try_from(version)
        .ok()
        .and_then(|v| MIGRATIONS.get(v))
    else {
        return Ok(false);
    };
    let statements = match migration {
        Migration::Everywhere(sql) => Some(*sql),
        Migration::PostgresOnly(sql) => is_postgres(&txn).await?.then_some(*sql),
    };
    if let Some(sql) = statements
        && let Err(e) = txn.batch_execute(sql).await
    {
        drop(txn);
        drop(client);
        // Another opener's DDL waits on the same table locks and, once it commits, this
        // step's statements fail on what it made (a column that now exists, a constraint
        // already dropped), whatever the error's code. If the version moved meanwhile, the
        // step is done: retry and find it so. Otherwise the migration itself failed.
        return Err(if version_moved_past(pool, version).await {
            Fail::Retry(e.to_string())
        } else {
            racing_ddl(e)
        });
    }
    txn.execute(
        "INSERT INTO coffer_schema (only_row, version) VALUES (true, $1::int8)
         ON CONFLICT (only_row) DO UPDATE SET version = excluded.version",
        &[&(version + 1)],
    )
    .await
    .map_err(racing_ddl)?;
    txn.commit().await.map_err(racing_ddl)?;
    tracing::info!(version = version + 1, "postgres schema migrated");
    Ok(true)
}

/// Whether the database is PostgreSQL itself rather than another engine speaking its
/// protocol: CockroachDB names itself in `version()`, YugabyteDB reports a PostgreSQL
/// version marked `-YB-`.
async fn is_postgres(client: &deadpool_postgres::Transaction<'_>) -> Attempt<bool> {
    let version: String = client.query_one("SELECT version()", &[]).await?.get(0);
    Ok(engine_is_postgres(&version))
}

fn engine_is_postgres(version: &str) -> bool {
    version.starts_with("PostgreSQL ") && !version.contains("-YB-")
}

/// Whether the schema's version is now past `seen` (read in a transaction of its own).
async fn version_moved_past(pool: &Pool, seen: i64) -> bool {
    let Ok(mut client) = pool.get().await else {
        return false;
    };
    let Ok(txn) = client.transaction().await else {
        return false;
    };
    current_version(&txn).await.is_ok_and(|v| v > seen)
}

/// Two openers creating the same tables at once may also see each other's catalog rows
/// (a duplicate table, type or catalog key) rather than a serialization failure: the same
/// race, retried.
fn racing_ddl(e: tokio_postgres::Error) -> Fail {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::DUPLICATE_TABLE
                || *c == SqlState::DUPLICATE_SCHEMA
                || *c == SqlState::DUPLICATE_OBJECT
                || *c == SqlState::UNIQUE_VIOLATION =>
        {
            Fail::Retry(e.to_string())
        }
        _ => Fail::from(e),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], or refuses one that is newer. A named
/// PostgreSQL schema (already checked to be a plain identifier) is created if missing.
pub(crate) async fn migrate(pool: &Pool, namespace: Option<&str>) -> StoreResult<()> {
    retrying(|| async {
        let client = pool.get().await?;
        if let Some(namespace) = namespace {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {namespace}"))
                .await
                .map_err(racing_ddl)?;
        }
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS coffer_schema (
                     only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                     version bigint NOT NULL
                 )",
            )
            .await
            .map_err(racing_ddl)
    })
    .await?;
    while retrying(|| step(pool)).await? {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::engine_is_postgres;

    #[test]
    fn only_postgresql_itself_gets_its_storage_settings() {
        assert!(engine_is_postgres(
            "PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc"
        ));
        assert!(!engine_is_postgres(
            "CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15 21:28:29, go1.22.2)"
        ));
        assert!(!engine_is_postgres(
            "PostgreSQL 11.2-YB-2.20.1.0-b0 on x86_64-pc-linux-gnu, compiled by clang version 16"
        ));
    }
}
