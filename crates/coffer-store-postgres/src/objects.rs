//! Object records: writes under conditions, copies that share blobs, deletes that free them.
//!
//! `put_object`, `copy_object`, `delete_object` and `delete_objects` are one statement each:
//! one round trip (the statement is prepared once per connection), one implicit SERIALIZABLE
//! transaction that checks, writes the record and moves the reference counts together.

use coffer_store::{
    BlobId, BucketRecord, KMS_KEY_RECORD_PREFIX, KmsRecordSnapshot, ObjectRead, ObjectRecord,
    WriteCondition,
};

use crate::PostgresMetaStore;
use crate::codec::{blob_ids, blob_names, decode, encode, master_version};
use crate::kms::version;
use crate::retry::Attempt;
use crate::sql::{condition, condition_checks, freed, master_check, ref_ctes, verdict};

/// Stores a record at (`$1`, `$2`), given its JSON `$3`, ETag `$4`, master-key version `$5`
/// and blobs `$6`, under condition (`$7`, `$8`); for a copy, only while the source
/// (`$9`, `$10`) still names exactly the blobs `$11` (NULL: not a copy); for a write
/// decided on the bucket as stored in `$12`, only while it still is (NULL: any).
///
/// It does not read the object row before writing it: under serializable isolation a read
/// locks the index page it visits, and concurrent writers of nearby keys (one page of a
/// small bucket, or of keys sharing a prefix) would then refuse each other in turn. An
/// upsert takes no such lock; it returns the replaced record's blobs by saving them in
/// `prev_blobs` as it updates the row. `If-None-Match` is the same upsert declining to
/// update; `If-Match` the upsert updating only `WHERE etag = $8`, and inserting only if a
/// row exists (so never). Only `If-Match` reads, to tell `NoSuchKey` from
/// `PreconditionFailed`. One modification of the table per statement, as CockroachDB
/// requires by default.
const PUT: &str = concat!(
    "WITH
    verdict AS (SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM coffer_buckets WHERE name = $1::text) THEN 1
        WHEN $12::bytea IS NOT NULL AND (SELECT record FROM coffer_buckets WHERE name = $1)
            IS DISTINCT FROM $12 THEN 9
        ",
    master_check!("$5"),
    "
        WHEN $11::text[] IS NOT NULL AND (SELECT blobs FROM coffer_objects
            WHERE bucket = $9::text AND key = $10::text) IS DISTINCT FROM $11 THEN 3
        ELSE 0 END AS v),
    written AS (
        INSERT INTO coffer_objects (bucket, key, etag, master_version, blobs, record)
        SELECT $1, $2::text, $4::text, $5, $6::text[], $3::bytea FROM verdict
        WHERE v = 0 AND ($7::int4 <> 2
            OR EXISTS (SELECT 1 FROM coffer_objects WHERE bucket = $1 AND key = $2))
        ON CONFLICT (bucket, key) DO UPDATE SET etag = excluded.etag,
            master_version = excluded.master_version, blobs = excluded.blobs,
            record = excluded.record, prev_blobs = coffer_objects.blobs
        WHERE $7 = 0 OR ($7 = 2 AND coffer_objects.etag = $8::text)
        RETURNING prev_blobs
    ),
    delta AS (
        SELECT blob, sum(d)::int8 AS d FROM (
            SELECT unnest($6) AS blob, 1 AS d FROM written
            UNION ALL SELECT unnest(prev_blobs), -1 FROM written
        ) AS changes
        GROUP BY blob
    ),
    settled AS (
        DELETE FROM coffer_blob_intents
        WHERE blob = ANY($6) AND EXISTS (SELECT 1 FROM written)
    ),",
    ref_ctes!(),
    "SELECT CASE
        WHEN (SELECT v FROM verdict) <> 0 THEN (SELECT v FROM verdict)
        WHEN EXISTS (SELECT 1 FROM written) THEN 0
        WHEN $7 = 1 THEN 4
        WHEN EXISTS (SELECT 1 FROM coffer_objects WHERE bucket = $1 AND key = $2) THEN 4
        ELSE 5 END, ",
    freed!()
);

/// Removes the record at (`$1`, `$2`) under condition (`$3`, `$4`); returns it. For a
/// delete decided on the bucket as stored in `$5`, only while it still is (NULL: any).
const DELETE: &str = concat!(
    "WITH
    cur AS (SELECT etag FROM coffer_objects WHERE bucket = $1::text AND key = $2::text),
    verdict AS (SELECT CASE
        WHEN $5::bytea IS NOT NULL AND (SELECT record FROM coffer_buckets WHERE name = $1)
            IS DISTINCT FROM $5 THEN 9 ",
    condition_checks!("$3", "$4"),
    " ELSE 0 END AS v),
    gone AS (
        DELETE FROM coffer_objects WHERE bucket = $1 AND key = $2 AND (SELECT v FROM verdict) = 0
        RETURNING blobs, record
    ),
    delta AS (SELECT blob, -count(*) AS d FROM gone, unnest(gone.blobs) AS blob GROUP BY blob),",
    ref_ctes!(),
    "SELECT (SELECT v FROM verdict), (SELECT record FROM gone), ",
    freed!()
);

/// Removes the records at keys `$2` of bucket `$1`; returns the keys that had one.
const DELETE_MANY: &str = concat!(
    "WITH
    gone AS (
        DELETE FROM coffer_objects WHERE bucket = $1::text AND key = ANY($2::text[])
        RETURNING key, blobs
    ),
    delta AS (SELECT blob, -count(*) AS d FROM gone, unnest(gone.blobs) AS blob GROUP BY blob),",
    ref_ctes!(),
    "SELECT coalesce((SELECT array_agg(key) FROM gone), '{}'), ",
    freed!()
);

/// Rows a listing reads per statement: a huge bucket streams in pages, never whole.
pub(crate) const LIST_PAGE: i64 = 1000;

const LIST: &str = "SELECT key, record FROM coffer_objects
    WHERE bucket = $1::text AND key >= $2::text AND ($3::text IS NULL OR key < $3)
      AND key > $4::text
    ORDER BY key LIMIT $5::int8";

impl PostgresMetaStore {
    async fn put_statement(
        &self,
        (bucket, key): (&str, &str),
        object: &ObjectRecord,
        condition_: &WriteCondition,
        source: Option<((&str, &str), &[BlobId])>,
        bucket_stored: Option<&[u8]>,
    ) -> Attempt<Vec<BlobId>> {
        let record = encode(object)?;
        let blobs = blob_names(object);
        let mv = master_version(object.encryption.as_ref());
        let (kind, etag) = condition(condition_);
        let (src_bucket, src_key, src_blobs) = match source {
            Some(((b, k), blobs)) => (
                Some(b),
                Some(k),
                Some(
                    blobs
                        .iter()
                        .map(|b| b.as_str().to_owned())
                        .collect::<Vec<_>>(),
                ),
            ),
            None => (None, None, None),
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(PUT).await?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &bucket,
                    &key,
                    &record,
                    &object.etag,
                    &mv,
                    &blobs,
                    &kind,
                    &etag,
                    &src_bucket,
                    &src_key,
                    &src_blobs,
                    &bucket_stored,
                ],
            )
            .await?;
        verdict(row.get(0))?;
        Ok(blob_ids(row.get(1))?)
    }

    pub(crate) async fn put_object_once(
        &self,
        bucket: &str,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
        bucket_stored: Option<&[u8]>,
    ) -> Attempt<Vec<BlobId>> {
        self.put_statement((bucket, key), object, condition, None, bucket_stored)
            .await
    }

    pub(crate) async fn copy_object_once(
        &self,
        source: (&str, &str),
        source_blobs: &[BlobId],
        destination: (&str, &str),
        object: &ObjectRecord,
    ) -> Attempt<Vec<BlobId>> {
        let source = Some((source, source_blobs));
        self.put_statement(destination, object, &WriteCondition::Always, source, None)
            .await
    }

    pub(crate) async fn get_object_once(
        &self,
        bucket: &str,
        key: &str,
    ) -> Attempt<Option<ObjectRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM coffer_objects WHERE bucket = $1::text AND key = $2::text",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&bucket, &key]).await?;
        Ok(row.map(|r| decode(r.get(0))).transpose()?)
    }

    /// Both records in one statement: what every GET and HEAD costs, one round trip.
    pub(crate) async fn get_bucket_and_object_once(
        &self,
        bucket: &str,
        key: &str,
    ) -> Attempt<(Option<BucketRecord>, Option<ObjectRecord>)> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT b.record, o.record FROM coffer_buckets b
                 LEFT JOIN coffer_objects o ON o.bucket = b.name AND o.key = $2::text
                 WHERE b.name = $1::text",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&bucket, &key]).await? else {
            return Ok((None, None));
        };
        let object: Option<&[u8]> = row.get(1);
        Ok((Some(decode(row.get(0))?), object.map(decode).transpose()?))
    }

    /// The bucket, the object and the record of the KMS key the object is sealed under, in
    /// one statement: the key's id is taken from the ARN in the object's stored JSON, so
    /// that an SSE-KMS GET costs one round trip, not two.
    pub(crate) async fn get_object_for_read_once(
        &self,
        bucket: &str,
        key: &str,
    ) -> Attempt<ObjectRead> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                // Parsing the record as JSON (several KB when it holds the object's bytes)
                // cost more than the rest of the statement; a record that does not even
                // contain the field's name is not parsed.
                "SELECT b.record, o.record, k.version, k.record FROM coffer_buckets b
                 LEFT JOIN coffer_objects o ON o.bucket = b.name AND o.key = $2::text
                 LEFT JOIN coffer_kms k ON k.id = CASE
                     WHEN strpos(convert_from(o.record, 'UTF8'), '\"kms_key_arn\"') > 0
                     THEN $3::text || substring(
                         convert_from(o.record, 'UTF8')::json #>> '{encryption,kms_key_arn}'
                         FROM ':key/(.+)$')
                     END
                 WHERE b.name = $1::text",
            )
            .await?;
        let Some(row) = client
            .query_opt(&stmt, &[&bucket, &key, &KMS_KEY_RECORD_PREFIX])
            .await?
        else {
            return Ok(ObjectRead::default());
        };
        let object: Option<ObjectRecord> =
            row.get::<_, Option<&[u8]>>(1).map(decode).transpose()?;
        let kms_key = object
            .as_ref()
            .and_then(|o| o.encryption.as_ref()?.kms_key_record_id())
            .map(|id| {
                let found: Option<Vec<u8>> = row.get(3);
                KmsRecordSnapshot {
                    id,
                    found: found.map(|record| (version(row.get(2)), record)),
                }
            });
        Ok(ObjectRead {
            bucket: Some(decode(row.get(0))?),
            object,
            kms_key,
        })
    }

    pub(crate) async fn delete_object_once(
        &self,
        bucket: &str,
        key: &str,
        condition_: &WriteCondition,
        bucket_stored: Option<&[u8]>,
    ) -> Attempt<(Option<ObjectRecord>, Vec<BlobId>)> {
        let (kind, etag) = condition(condition_);
        let client = self.client().await?;
        let stmt = client.prepare_cached(DELETE).await?;
        let row = client
            .query_one(&stmt, &[&bucket, &key, &kind, &etag, &bucket_stored])
            .await?;
        verdict(row.get(0))?;
        let old: Option<&[u8]> = row.get(1);
        Ok((old.map(decode).transpose()?, blob_ids(row.get(2))?))
    }

    pub(crate) async fn delete_objects_once(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Attempt<(Vec<bool>, Vec<BlobId>)> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(DELETE_MANY).await?;
        let row = client.query_one(&stmt, &[&bucket, &keys]).await?;
        let mut gone: std::collections::HashSet<String> =
            row.get::<_, Vec<String>>(0).into_iter().collect();
        // A key named twice existed only for its first mention, as if deleted in turn.
        let existed = keys.iter().map(|k| gone.remove(k)).collect();
        Ok((existed, blob_ids(row.get(1))?))
    }

    /// One page of a listing: up to [`LIST_PAGE`] objects after `after`.
    pub(crate) async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        prefix_end: Option<&str>,
        after: &str,
    ) -> Attempt<Vec<(String, ObjectRecord)>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LIST).await?;
        let rows = client
            .query(&stmt, &[&bucket, &prefix, &prefix_end, &after, &LIST_PAGE])
            .await?;
        let mut page = Vec::with_capacity(rows.len());
        for row in rows {
            page.push((row.get(0), decode(row.get(1))?));
        }
        Ok(page)
    }
}
