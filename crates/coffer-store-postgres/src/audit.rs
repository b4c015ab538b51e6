//! [`AuditStore`]: the outbox that commits a KMS change with its audit record, each stream's
//! anchor, and the lookup index (records by stream and chain position, one row per term).

use coffer_store::{AuditStore, IndexCursor, IndexScan, IndexedRecord, KmsWrite, StoreResult};

use crate::codec::to_i64;
use crate::kms::apply_kms_writes;
use crate::retry::{Attempt, retrying};
use crate::{PostgresMetaStore, cached};

/// Moves stream `$1`'s anchor to (`$2`, `$3`) if `$2` is past the one kept, and its
/// `indexed_through` to `$4` if past; either may be NULL. An anchor only moves forward.
macro_rules! advance {
    ($stream:literal, $seq:literal, $anchor:literal, $through:literal) => {
        concat!(
            "INSERT INTO coffer_audit_streams AS s (stream, anchor, anchor_seq, indexed_through)
            VALUES (",
            $stream,
            "::text, CASE WHEN ",
            $seq,
            "::int8 > 0 THEN ",
            $anchor,
            "::bytea END,
                    CASE WHEN ",
            $seq,
            " > 0 THEN ",
            $seq,
            " ELSE 0 END,
                    greatest(coalesce(",
            $through,
            "::int8, 0), 0))
            ON CONFLICT (stream) DO UPDATE SET
                anchor = CASE WHEN ",
            $seq,
            " > s.anchor_seq THEN ",
            $anchor,
            " ELSE s.anchor END,
                anchor_seq = greatest(s.anchor_seq, coalesce(",
            $seq,
            ", 0)),
                indexed_through = greatest(s.indexed_through, coalesce(",
            $through,
            ", 0))"
        )
    };
}

const ADVANCE: &str = advance!("$1", "$2", "$3", "$4");

/// Stores stream `$1`'s records and their terms and moves its state (`$7`..`$9` as
/// `$2`..`$4` of [`ADVANCE`]), in one statement: one commit.
const INDEX: &str = concat!(
    "WITH
    bodies AS (
        INSERT INTO coffer_audit_records (stream, seq, record)
        SELECT $1::text, * FROM unnest($2::int8[], $3::bytea[])
        ON CONFLICT (stream, seq) DO UPDATE SET record = excluded.record
    ),
    terms AS (
        INSERT INTO coffer_audit_terms (term, shard, time, stream, seq)
        SELECT t.term, (t.seq % 8)::smallint, t.time, $1::text, t.seq
            FROM unnest($4::text[], $5::text[], $6::int8[]) AS t(term, time, seq)
        ON CONFLICT DO NOTHING
    ),
    state AS (",
    advance!("$1", "$7", "$8", "$9"),
    ")
    SELECT 1"
);

/// How many shards a term's rows spread over (schema migration 4 takes `seq % 8`).
const TERM_SHARDS: usize = 8;

/// Newest first within [`$2`, `$3`] and before (`$4`, `$5`, `$6`), up to `$7` rows of term
/// `$1`, of every stream: the newest `$7` of each shard, each read by its own key range,
/// merged. So a lookup reads at most shards × limit index rows, however large the trail.
fn scan_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let shard = |n: usize| {
            format!(
                "(SELECT time, stream, seq FROM coffer_audit_terms
                  WHERE term = $1::text AND shard = {n}
                    AND ($2::text IS NULL OR time >= $2)
                    AND ($3::text IS NULL OR time <= $3)
                    AND ($4::text IS NULL OR (time, stream, seq) < ($4, $5::text, $6::int8))
                  ORDER BY time DESC, stream DESC, seq DESC
                  LIMIT $7::int8)"
            )
        };
        let shards: Vec<String> = (0..TERM_SHARDS).map(shard).collect();
        format!(
            "SELECT t.time, t.stream, t.seq, r.record FROM ({}) t
             LEFT JOIN coffer_audit_records r ON r.stream = t.stream AND r.seq = t.seq
             ORDER BY t.time DESC, t.stream DESC, t.seq DESC
             LIMIT $7::int8",
            shards.join(" UNION ALL ")
        )
    })
}

/// PostgreSQL text holds no NUL; the embedded index drops them from terms too.
fn without_nul(s: &str) -> String {
    s.replace('\0', "")
}

fn outbox_time() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl PostgresMetaStore {
    async fn commit_kms_change_once(
        &self,
        writes: &[KmsWrite],
        record_id: &str,
        record: &[u8],
        at_ns: i64,
    ) -> Attempt<()> {
        let mut client = self.client().await?;
        let txn = Self::serializable(&mut client).await?;
        apply_kms_writes(&txn, writes).await?;
        txn.execute(
            &cached(
                &txn,
                "INSERT INTO coffer_audit_outbox (record_id, at_ns, record)
             VALUES ($1::text, $2::int8, $3::bytea)
             ON CONFLICT (record_id, at_ns) DO UPDATE SET record = excluded.record",
            )
            .await?,
            &[&record_id, &at_ns, &record],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn advance_once(
        &self,
        stream: &str,
        anchor: Option<(i64, &[u8])>,
        indexed_through: Option<i64>,
    ) -> Attempt<()> {
        let (seq, bytes) = anchor.unzip();
        let client = self.client().await?;
        let stmt = client.prepare_cached(ADVANCE).await?;
        client
            .execute(&stmt, &[&stream, &seq, &bytes, &indexed_through])
            .await?;
        Ok(())
    }

    async fn index_once(
        &self,
        stream: &str,
        records: &[IndexedRecord],
        anchor: Option<(i64, &[u8])>,
        newest: i64,
    ) -> Attempt<()> {
        let (mut seqs, mut bodies) = (Vec::new(), Vec::new());
        let (mut terms, mut times, mut term_seqs) = (Vec::new(), Vec::new(), Vec::new());
        for r in records {
            let seq = to_i64(r.seq)?;
            seqs.push(seq);
            bodies.push(r.record.as_slice());
            for term in &r.terms {
                terms.push(without_nul(term));
                times.push(without_nul(&r.time));
                term_seqs.push(seq);
            }
        }
        let (anchor_seq, anchor) = anchor.unzip();
        let client = self.client().await?;
        let stmt = client.prepare_cached(INDEX).await?;
        client
            .execute(
                &stmt,
                &[
                    &stream,
                    &seqs,
                    &bodies,
                    &terms,
                    &times,
                    &term_seqs,
                    &anchor_seq,
                    &anchor,
                    &Some(newest),
                ],
            )
            .await?;
        Ok(())
    }

    async fn audit_state_once(&self, stream: &str) -> Attempt<(Option<Vec<u8>>, u64)> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT anchor, indexed_through FROM coffer_audit_streams WHERE stream = $1::text",
                &[&stream],
            )
            .await?;
        Ok(row.map_or((None, 0), |r| {
            (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0))
        }))
    }

    async fn scan_once(&self, scan: &IndexScan<'_>) -> Attempt<Vec<(IndexCursor, Vec<u8>)>> {
        let (before_time, before_stream, before_seq) = match scan.before {
            Some((time, stream, seq)) => (
                Some(without_nul(time)),
                Some(stream.as_str()),
                Some(to_i64(*seq)?),
            ),
            None => (None, None, None),
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(scan_sql()).await?;
        let rows = client
            .query(
                &stmt,
                &[
                    &without_nul(scan.term),
                    &scan.from,
                    &scan.to,
                    &before_time,
                    &before_stream,
                    &before_seq,
                    &to_i64(scan.limit)?,
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let stream: String = r.get(1);
            let seq: i64 = r.get(2);
            let Some(body) = r.get::<_, Option<Vec<u8>>>(3) else {
                return Err(coffer_store::StoreError::Corrupt(format!(
                    "the audit index names record {seq} of stream {stream:?} but does not hold it"
                ))
                .into());
            };
            out.push(((r.get(0), stream, u64::try_from(seq).unwrap_or(0)), body));
        }
        Ok(out)
    }
}

impl AuditStore for PostgresMetaStore {
    fn commit_kms_change(
        &self,
        writes: Vec<KmsWrite>,
        record_id: &str,
        record: &[u8],
    ) -> StoreResult<()> {
        // Fixed before the first attempt, so a retried commit keeps its place in the order.
        let at_ns = outbox_time();
        self.block(retrying(|| {
            self.commit_kms_change_once(&writes, record_id, record, at_ns)
        }))
    }

    fn save_audit_anchor(&self, stream: &str, seq: u64, anchor: &[u8]) -> StoreResult<()> {
        let seq = to_i64(seq)?;
        self.block(retrying(|| {
            self.advance_once(stream, Some((seq, anchor)), None)
        }))
    }

    fn audit_anchor(&self, stream: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.block(retrying(|| self.audit_state_once(stream)))?.0)
    }

    fn audit_anchors(&self) -> StoreResult<Vec<Vec<u8>>> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT anchor FROM coffer_audit_streams WHERE anchor IS NOT NULL
                     ORDER BY stream",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        }))
    }

    fn audit_outbox(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT record_id, record FROM coffer_audit_outbox
                     ORDER BY at_ns, record_id",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        }))
    }

    fn clear_audit_outbox(&self, record_id: &str) -> StoreResult<()> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            client
                .execute(
                    "DELETE FROM coffer_audit_outbox WHERE record_id = $1::text",
                    &[&record_id],
                )
                .await?;
            Ok(())
        }))
    }

    fn index_audit_records(
        &self,
        stream: &str,
        records: Vec<IndexedRecord>,
        anchor: Option<(u64, Vec<u8>)>,
    ) -> StoreResult<()> {
        let Some(newest) = records.iter().map(|r| r.seq).max() else {
            return Ok(());
        };
        let newest = to_i64(newest)?;
        let anchor = match &anchor {
            Some((seq, bytes)) => Some((to_i64(*seq)?, bytes.as_slice())),
            None => None,
        };
        self.block(retrying(|| {
            self.index_once(stream, &records, anchor, newest)
        }))
    }

    fn audit_indexed_through(&self, stream: &str) -> StoreResult<u64> {
        Ok(self.block(retrying(|| self.audit_state_once(stream)))?.1)
    }

    fn scan_audit_index(&self, scan: &IndexScan<'_>) -> StoreResult<Vec<(IndexCursor, Vec<u8>)>> {
        self.block(retrying(|| self.scan_once(scan)))
    }
}
