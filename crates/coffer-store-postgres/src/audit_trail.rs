//! [`AuditJournalStore`] and [`AuditFileStore`]: every gateway's live audit journal, one
//! stream per gateway keyed (stream, seq), and the trail's named files, with the
//! compare-and-swap that keeps two sealers from forking the trail's state.

use coffer_store::{AuditFileStore, AuditJournalStore, StoreResult, StreamLine};

use crate::PostgresMetaStore;
use crate::codec::to_i64;
use crate::retry::retrying;

/// Each stream's bound, as two arrays (`unnest` pairs them).
fn bounds(through: &[(String, u64)]) -> StoreResult<(Vec<&str>, Vec<i64>)> {
    let mut streams = Vec::with_capacity(through.len());
    let mut seqs = Vec::with_capacity(through.len());
    for (stream, seq) in through {
        streams.push(stream.as_str());
        seqs.push(to_i64(*seq)?);
    }
    Ok((streams, seqs))
}

fn stream_line(r: &tokio_postgres::Row) -> StreamLine {
    (
        r.get(0),
        u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        r.get(2),
    )
}

/// `LIKE` matches `_` and `%` anywhere: a prefix is matched as a range instead.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl AuditJournalStore for PostgresMetaStore {
    fn append_audit_lines(&self, stream: &str, first: u64, lines: &[&[u8]]) -> StoreResult<()> {
        let first = to_i64(first)?;
        let count = to_i64(lines.len() as u64)?;
        self.block(retrying(|| async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO coffer_audit_journal (stream, seq, line)
                     SELECT $1::text, $2::int8 + n - 1, line
                     FROM unnest($3::bytea[]) WITH ORDINALITY AS l(line, n)
                     WHERE n <= $4::int8
                     ON CONFLICT (stream, seq) DO NOTHING",
                )
                .await?;
            client
                .execute(&stmt, &[&stream, &first, &lines, &count])
                .await?;
            Ok(())
        }))
    }

    fn audit_journal(
        &self,
        stream: Option<&str>,
        through: Option<&[(String, u64)]>,
    ) -> StoreResult<Vec<StreamLine>> {
        let (streams, seqs) = match through {
            Some(t) => {
                let (s, q) = bounds(t)?;
                (Some(s), Some(q))
            }
            None => (None, None),
        };
        self.block(retrying(|| async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT j.stream, j.seq, j.line FROM coffer_audit_journal j
                     LEFT JOIN unnest($2::text[], $3::int8[]) AS b(stream, through)
                         ON b.stream = j.stream
                     WHERE ($1::text IS NULL OR j.stream = $1)
                       AND ($2::text[] IS NULL OR j.seq <= b.through)
                     ORDER BY j.stream, j.seq",
                    &[&stream, &streams, &seqs],
                )
                .await?;
            Ok(rows.iter().map(stream_line).collect())
        }))
    }

    fn audit_journal_heads(&self) -> StoreResult<Vec<(String, u64)>> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT stream, max(seq) FROM coffer_audit_journal GROUP BY stream
                     ORDER BY stream",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
                .collect())
        }))
    }

    fn forget_audit_journal(&self, through: &[(String, u64)]) -> StoreResult<()> {
        let (streams, seqs) = bounds(through)?;
        self.block(retrying(|| async {
            let client = self.client().await?;
            client
                .execute(
                    "DELETE FROM coffer_audit_journal j
                     USING unnest($1::text[], $2::int8[]) AS b(stream, through)
                     WHERE j.stream = b.stream AND j.seq <= b.through",
                    &[&streams, &seqs],
                )
                .await?;
            Ok(())
        }))
    }
}

impl AuditFileStore for PostgresMetaStore {
    fn audit_file(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT content FROM coffer_audit_files WHERE name = $1::text",
                    &[&name],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        }))
    }

    fn put_audit_file(&self, name: &str, bytes: &[u8]) -> StoreResult<()> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            client
                .execute(
                    "INSERT INTO coffer_audit_files (name, content) VALUES ($1::text, $2::bytea)
                     ON CONFLICT (name) DO UPDATE SET content = excluded.content",
                    &[&name, &bytes],
                )
                .await?;
            Ok(())
        }))
    }

    fn swap_audit_file(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        bytes: &[u8],
    ) -> StoreResult<bool> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            let changed = match expected {
                None => {
                    client
                        .execute(
                            "INSERT INTO coffer_audit_files (name, content)
                             VALUES ($1::text, $2::bytea) ON CONFLICT (name) DO NOTHING",
                            &[&name, &bytes],
                        )
                        .await?
                }
                Some(old) => {
                    client
                        .execute(
                            "UPDATE coffer_audit_files SET content = $3::bytea
                             WHERE name = $1::text AND content = $2::bytea",
                            &[&name, &old, &bytes],
                        )
                        .await?
                }
            };
            Ok(changed == 1)
        }))
    }

    fn list_audit_files(&self, prefix: &str, suffix: &str) -> StoreResult<Vec<String>> {
        let end = prefix_end(prefix);
        self.block(retrying(|| async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT name FROM coffer_audit_files
                     WHERE name >= $1::text AND name < $2::text ORDER BY name",
                    &[&prefix, &end],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|n| n.ends_with(suffix))
                .collect())
        }))
    }

    fn remove_audit_file(&self, name: &str) -> StoreResult<()> {
        self.block(retrying(|| async {
            let client = self.client().await?;
            client
                .execute(
                    "DELETE FROM coffer_audit_files WHERE name = $1::text",
                    &[&name],
                )
                .await?;
            Ok(())
        }))
    }
}
