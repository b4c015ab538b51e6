//! Multipart uploads and their parts, and completion into an object. Each call is one
//! statement (one round trip): completion checks the upload, its bucket, the master-key
//! floor, every chosen part and the write condition, then stores the object, removes the
//! upload and its parts, remembers the completion and prunes a few expired ones, with the
//! reference counts netted over all of it.

use coffer_store::{
    BlobId, COMPLETED_UPLOAD_RETENTION_MS, CompletedUploadRecord, ObjectRecord, PartRecord,
    UploadRecord, WriteCondition,
};

use crate::PostgresMetaStore;
use crate::codec::{blob_ids, blob_names, decode, encode, master_version};
use crate::retry::Attempt;
use crate::sql::{condition, condition_checks, freed, master_check, ref_ctes, verdict};

const CREATE: &str = concat!(
    "WITH verdict AS (SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM coffer_buckets WHERE name = $2::text) THEN 1
        ",
    master_check!("$4"),
    "
        ELSE 0 END AS v),
    stored AS (
        INSERT INTO coffer_uploads (upload_id, bucket, key, master_version, record)
        SELECT $1::text, $2, $3::text, $4, $5::bytea FROM verdict WHERE v = 0
        ON CONFLICT (upload_id) DO UPDATE SET bucket = excluded.bucket, key = excluded.key,
            master_version = excluded.master_version, record = excluded.record
    )
    SELECT v FROM verdict"
);

/// Stores part `$2` (blob `$3`, JSON `$4`) of upload `$1`, replacing an earlier one. Like
/// `put_object`, the part row is upserted without being read first (parts of one upload
/// arrive in parallel, into one index page); `prev_blob` hands back the replaced blob.
const PUT_PART: &str = concat!(
    "WITH
    up AS (SELECT EXISTS (SELECT 1 FROM coffer_uploads WHERE upload_id = $1::text) AS found),
    stored AS (
        INSERT INTO coffer_parts (upload_id, number, blob, record)
        SELECT $1, $2::int8, $3::text, $4::bytea FROM up WHERE found
        ON CONFLICT (upload_id, number) DO UPDATE SET blob = excluded.blob,
            record = excluded.record, prev_blob = coffer_parts.blob
        RETURNING prev_blob
    ),
    delta AS (
        SELECT blob, sum(d)::int8 AS d FROM (
            SELECT $3 AS blob, 1 AS d FROM stored
            UNION ALL SELECT prev_blob, -1 FROM stored WHERE prev_blob IS NOT NULL
        ) AS changes
        GROUP BY blob
    ),
    settled AS (
        DELETE FROM coffer_blob_intents WHERE blob = $3 AND EXISTS (SELECT 1 FROM stored)
    ),",
    ref_ctes!(),
    "SELECT (SELECT found FROM up), ",
    freed!()
);

const ABORT: &str = concat!(
    "WITH
    up AS (DELETE FROM coffer_uploads WHERE upload_id = $1::text RETURNING 1),
    parts AS (DELETE FROM coffer_parts WHERE upload_id = $1 RETURNING blob),
    delta AS (SELECT blob, -count(*) AS d FROM parts GROUP BY blob),",
    ref_ctes!(),
    "SELECT EXISTS (SELECT 1 FROM up), ",
    freed!()
);

/// Completes upload `$1` into the object (JSON `$2`, ETag `$3`, master-key version `$4`,
/// blobs `$5` of parts numbered `$6`) under condition (`$7`, `$8`); remembers the completion
/// (`$9` JSON, `$10` time, `$13` upload id) and drops up to `$12` completions older than `$11`.
const COMPLETE: &str = concat!(
    "WITH
    up AS (SELECT bucket, key FROM coffer_uploads WHERE upload_id = $1::text),
    cur AS (
        SELECT o.etag, o.blobs FROM coffer_objects o
        JOIN up ON o.bucket = up.bucket AND o.key = up.key
    ),
    verdict AS (SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM up) THEN 6
        WHEN NOT EXISTS (SELECT 1 FROM coffer_buckets b JOIN up ON b.name = up.bucket) THEN 1
        ",
    master_check!("$4"),
    "
        WHEN EXISTS (
            SELECT 1 FROM unnest($6::int8[], $5::text[]) AS want(number, blob)
            LEFT JOIN coffer_parts p ON p.upload_id = $1 AND p.number = want.number
            WHERE p.blob IS DISTINCT FROM want.blob
        ) THEN 7
        ",
    condition_checks!("$7", "$8"),
    "
        ELSE 0 END AS v),
    stored AS (
        INSERT INTO coffer_objects (bucket, key, etag, master_version, blobs, record)
        SELECT up.bucket, up.key, $3::text, $4, $5, $2::bytea FROM up, verdict WHERE v = 0
        ON CONFLICT (bucket, key) DO UPDATE SET etag = excluded.etag,
            master_version = excluded.master_version, blobs = excluded.blobs,
            record = excluded.record
    ),
    upload_gone AS (
        DELETE FROM coffer_uploads WHERE upload_id = $1 AND (SELECT v FROM verdict) = 0
    ),
    parts_gone AS (
        DELETE FROM coffer_parts WHERE upload_id = $1 AND (SELECT v FROM verdict) = 0
        RETURNING blob
    ),
    delta AS (
        SELECT blob, sum(d)::int8 AS d FROM (
            SELECT unnest($5) AS blob, 1 AS d
            UNION ALL SELECT unnest(blobs), -1 FROM cur
            UNION ALL SELECT blob, -1 FROM parts_gone
        ) AS changes
        WHERE (SELECT v FROM verdict) = 0 GROUP BY blob
    ),
    settled AS (
        DELETE FROM coffer_blob_intents WHERE blob = ANY($5) AND (SELECT v FROM verdict) = 0
    ),
    remembered AS (
        INSERT INTO coffer_completed_uploads (upload_id, completed_ms, record)
        SELECT $11::text, $10::int8, $9::bytea FROM verdict WHERE v = 0
        ON CONFLICT (upload_id) DO UPDATE SET completed_ms = excluded.completed_ms,
            record = excluded.record
    ),",
    ref_ctes!(),
    "SELECT (SELECT v FROM verdict), ",
    freed!()
);

/// Removes up to `$2` completion records older than `$1`, never `$3` (the one just made).
const PRUNE_COMPLETED: &str = "DELETE FROM coffer_completed_uploads WHERE upload_id IN (
    SELECT upload_id FROM coffer_completed_uploads
    WHERE completed_ms < $1::int8 AND upload_id <> $3::text
    ORDER BY completed_ms LIMIT $2::int8
)";

/// Most expired completion records one completion removes: pruning stays cheap per call and
/// still outpaces the rate at which records are added (as in the embedded store).
const COMPLETED_PRUNE_BATCH: i64 = 16;

impl PostgresMetaStore {
    pub(crate) async fn create_upload_once(&self, upload: &UploadRecord) -> Attempt<()> {
        let record = encode(upload)?;
        let mv = master_version(upload.template.encryption.as_ref());
        let client = self.client().await?;
        let stmt = client.prepare_cached(CREATE).await?;
        let row = client
            .query_one(
                &stmt,
                &[&upload.upload_id, &upload.bucket, &upload.key, &mv, &record],
            )
            .await?;
        verdict(row.get(0))
    }

    pub(crate) async fn get_upload_once(&self, upload_id: &str) -> Attempt<Option<UploadRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM coffer_uploads WHERE upload_id = $1::text")
            .await?;
        let row = client.query_opt(&stmt, &[&upload_id]).await?;
        Ok(row.map(|r| decode(r.get(0))).transpose()?)
    }

    pub(crate) async fn list_uploads_once(&self, bucket: &str) -> Attempt<Vec<UploadRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM coffer_uploads WHERE bucket = $1::text
                 ORDER BY key, upload_id",
            )
            .await?;
        let rows = client.query(&stmt, &[&bucket]).await?;
        Ok(rows
            .iter()
            .map(|r| decode(r.get(0)))
            .collect::<Result<_, _>>()?)
    }

    pub(crate) async fn put_part_once(
        &self,
        upload_id: &str,
        part: &PartRecord,
    ) -> Attempt<Vec<BlobId>> {
        let record = encode(part)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(PUT_PART).await?;
        let number = i64::from(part.part.number);
        let row = client
            .query_one(
                &stmt,
                &[&upload_id, &number, &part.part.blob.as_str(), &record],
            )
            .await?;
        if !row.get::<_, bool>(0) {
            return Err(coffer_store::StoreError::NoSuchUpload.into());
        }
        Ok(blob_ids(row.get(1))?)
    }

    pub(crate) async fn list_parts_once(&self, upload_id: &str) -> Attempt<Vec<PartRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM coffer_parts WHERE upload_id = $1::text ORDER BY number",
            )
            .await?;
        let rows = client.query(&stmt, &[&upload_id]).await?;
        Ok(rows
            .iter()
            .map(|r| decode(r.get(0)))
            .collect::<Result<_, _>>()?)
    }

    pub(crate) async fn abort_upload_once(&self, upload_id: &str) -> Attempt<Vec<BlobId>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(ABORT).await?;
        let row = client.query_one(&stmt, &[&upload_id]).await?;
        if !row.get::<_, bool>(0) {
            return Err(coffer_store::StoreError::NoSuchUpload.into());
        }
        Ok(blob_ids(row.get(1))?)
    }

    pub(crate) async fn complete_upload_once(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        condition_: &WriteCondition,
        completed: &CompletedUploadRecord,
    ) -> Attempt<Vec<BlobId>> {
        let record = encode(object)?;
        let blobs = blob_names(object);
        let numbers: Vec<i64> = object.parts.iter().map(|p| i64::from(p.number)).collect();
        let mv = master_version(object.encryption.as_ref());
        let (kind, etag) = condition(condition_);
        let remembered = encode(completed)?;
        let cutoff = completed.completed_ms - COMPLETED_UPLOAD_RETENTION_MS;
        let client = self.client().await?;
        let stmt = client.prepare_cached(COMPLETE).await?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &upload_id,
                    &record,
                    &object.etag,
                    &mv,
                    &blobs,
                    &numbers,
                    &kind,
                    &etag,
                    &remembered,
                    &completed.completed_ms,
                    &completed.upload_id,
                ],
            )
            .await?;
        verdict(row.get(0))?;
        let freed = blob_ids(row.get(1))?;
        // Expired completion records go in a statement of their own: CockroachDB refuses a
        // statement that modifies one table twice (this one and the insert above). The
        // completion has committed, so a failed prune must not fail it (nor be retried with
        // it): it only leaves records for the next completion to remove.
        let pruned = match client.prepare_cached(PRUNE_COMPLETED).await {
            Ok(prune) => client
                .execute(
                    &prune,
                    &[&cutoff, &COMPLETED_PRUNE_BATCH, &completed.upload_id],
                )
                .await
                .map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = pruned {
            tracing::debug!(error = %e, "pruning completion records failed; the next completion will");
        }
        Ok(freed)
    }

    pub(crate) async fn get_completed_upload_once(
        &self,
        upload_id: &str,
    ) -> Attempt<Option<CompletedUploadRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM coffer_completed_uploads WHERE upload_id = $1::text",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&upload_id]).await?;
        Ok(row.map(|r| decode(r.get(0))).transpose()?)
    }
}
