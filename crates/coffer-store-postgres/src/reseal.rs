//! Changes to a record that keep its data: tags, a data key sealed again, and the
//! retirement of SSE-S3 master-key versions that makes such re-sealing necessary.
//!
//! Tags and re-sealing rewrite the record's JSON, so they read it, change it here and write
//! it back in one SERIALIZABLE transaction (the row locked `FOR UPDATE` so that a racing
//! writer waits rather than forcing a retry). They are rare (rotation, tagging), so the
//! few extra round trips buy plain code.

use coffer_store::{EncryptionRecord, ObjectRecord, StoreError, Tags, UploadRecord};

use crate::codec::{decode, encode, master_version};
use crate::retry::Attempt;
use crate::{PostgresMetaStore, cached};

/// Counts the records that still need a master-key version below `$1` and, if none does,
/// raises the floor to `$1` (never lowers it); one statement.
const RETIRE: &str = "WITH
    needing AS (SELECT
        (SELECT count(*) FROM coffer_objects WHERE master_version < $1::int8)
        + (SELECT count(*) FROM coffer_uploads WHERE master_version < $1) AS n),
    raised AS (
        INSERT INTO coffer_master_floor (only_row, floor)
        SELECT true, $1 FROM needing WHERE n = 0
        ON CONFLICT (only_row) DO UPDATE
            SET floor = greatest(coffer_master_floor.floor, excluded.floor)
    )
    SELECT n::int8 FROM needing";

/// The current floor, read inside a transaction that then writes a record needing a version.
async fn refuse_retired(
    txn: &deadpool_postgres::Transaction<'_>,
    encryption: &EncryptionRecord,
) -> Attempt<()> {
    let Some(needed) = master_version(Some(encryption)) else {
        return Ok(());
    };
    let row = txn
        .query_opt(
            &cached(txn, "SELECT floor FROM coffer_master_floor").await?,
            &[],
        )
        .await?;
    match row.map(|r| r.get::<_, i64>(0)) {
        Some(floor) if needed < floor => Err(StoreError::MasterKeyRetired.into()),
        _ => Ok(()),
    }
}

impl PostgresMetaStore {
    pub(crate) async fn set_object_tags_once(
        &self,
        bucket: &str,
        key: &str,
        tags: &Tags,
    ) -> Attempt<bool> {
        let mut client = self.client().await?;
        let txn = Self::serializable(&mut client).await?;
        let row = txn
            .query_opt(
                &cached(
                    &txn,
                    "SELECT record FROM coffer_objects WHERE bucket = $1::text AND key = $2::text
                 FOR UPDATE",
                )
                .await?,
                &[&bucket, &key],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let mut record: ObjectRecord = decode(row.get(0))?;
        record.tags = tags.clone();
        txn.execute(
            &cached(
                &txn,
                "UPDATE coffer_objects SET record = $3::bytea
             WHERE bucket = $1::text AND key = $2::text",
            )
            .await?,
            &[&bucket, &key, &encode(&record)?],
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    pub(crate) async fn reseal_object_once(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
        encryption: &EncryptionRecord,
    ) -> Attempt<bool> {
        let mut client = self.client().await?;
        let txn = Self::serializable(&mut client).await?;
        refuse_retired(&txn, encryption).await?;
        let row = txn
            .query_opt(
                &cached(
                    &txn,
                    "SELECT record FROM coffer_objects WHERE bucket = $1::text AND key = $2::text
                 FOR UPDATE",
                )
                .await?,
                &[&bucket, &key],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let mut record: ObjectRecord = decode(row.get(0))?;
        if record.encryption.as_ref().map(|e| e.sealed_key()) != Some(expected) {
            return Ok(false);
        }
        record.encryption = Some(encryption.clone());
        txn.execute(
            &cached(
                &txn,
                "UPDATE coffer_objects SET record = $3::bytea, master_version = $4::int8
             WHERE bucket = $1::text AND key = $2::text",
            )
            .await?,
            &[
                &bucket,
                &key,
                &encode(&record)?,
                &master_version(Some(encryption)),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    pub(crate) async fn reseal_upload_once(
        &self,
        upload_id: &str,
        expected: &str,
        encryption: &EncryptionRecord,
    ) -> Attempt<bool> {
        let mut client = self.client().await?;
        let txn = Self::serializable(&mut client).await?;
        refuse_retired(&txn, encryption).await?;
        let row = txn
            .query_opt(
                &cached(
                    &txn,
                    "SELECT record FROM coffer_uploads WHERE upload_id = $1::text FOR UPDATE",
                )
                .await?,
                &[&upload_id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let mut record: UploadRecord = decode(row.get(0))?;
        if record.template.encryption.as_ref().map(|e| e.sealed_key()) != Some(expected) {
            return Ok(false);
        }
        record.template.encryption = Some(encryption.clone());
        txn.execute(
            &cached(
                &txn,
                "UPDATE coffer_uploads SET record = $2::bytea, master_version = $3::int8
             WHERE upload_id = $1::text",
            )
            .await?,
            &[
                &upload_id,
                &encode(&record)?,
                &master_version(Some(encryption)),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    pub(crate) async fn retire_master_versions_below_once(&self, floor: u32) -> Attempt<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(RETIRE).await?;
        let row = client.query_one(&stmt, &[&i64::from(floor)]).await?;
        let n: i64 = row.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
