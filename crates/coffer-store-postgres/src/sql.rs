//! What the statements share: the reference-count step, and the verdicts a statement
//! returns when a check inside it refused the write.
//!
//! A write that checks before it writes (bucket exists, master key not retired, If-Match
//! holds, …) is one statement: a `verdict` CTE computes the first failed check (0: none),
//! every data-modifying CTE runs only when it is 0, and the statement returns it. One round
//! trip, one implicit SERIALIZABLE transaction, and nothing written when refused.

use coffer_store::{StoreError, WriteCondition};

use crate::retry::{Attempt, Fail};

/// Reference counting, for a statement that defines a CTE `delta(blob, d)`: how many more
/// (or, negative, fewer) records name each blob. Applies it to `coffer_blob_refs` as one
/// relative upsert, which reads no row first: under PostgreSQL's serializable isolation a
/// read locks the index page it visits, and writers that read and write the same pages
/// (fresh blob ids all land in one page of a small table) would keep refusing each other.
/// Defines `refs`: each changed blob with its new count; those at or below zero are freed
/// ([`freed!`]) and their rows pruned later.
macro_rules! ref_ctes {
    () => {
        "
        refs AS (
            INSERT INTO coffer_blob_refs (blob, n)
            SELECT blob, d FROM delta WHERE d <> 0
            ON CONFLICT (blob) DO UPDATE SET n = coffer_blob_refs.n + excluded.n
            RETURNING blob, n
        )
        "
    };
}

/// The blobs a statement with [`ref_ctes!`] freed, as a `text[]` column.
macro_rules! freed {
    () => {
        "(SELECT coalesce(array_agg(blob ORDER BY blob), '{}') FROM refs WHERE n <= 0)"
    };
}

/// The checks a write condition makes against a CTE `cur` (the object now at the key, if
/// any), given the condition as `$kind` (0 always, 1 if absent, 2 if match) and the ETag.
macro_rules! condition_checks {
    ($kind:literal, $etag:literal) => {
        concat!(
            "WHEN ",
            $kind,
            "::int4 = 1 AND EXISTS (SELECT 1 FROM cur) THEN 4
             WHEN ",
            $kind,
            " = 2 AND NOT EXISTS (SELECT 1 FROM cur) THEN 5
             WHEN ",
            $kind,
            " = 2 AND (SELECT etag FROM cur) IS DISTINCT FROM ",
            $etag,
            "::text THEN 4"
        )
    };
}

/// The refusal check for a record sealed under SSE-S3 master-key version `$version`.
macro_rules! master_check {
    ($version:literal) => {
        concat!(
            "WHEN ",
            $version,
            "::int8 IS NOT NULL AND ",
            $version,
            " < coalesce((SELECT floor FROM coffer_master_floor), 0) THEN 2"
        )
    };
}

pub(crate) use {condition_checks, freed, master_check, ref_ctes};

/// A condition as the statements take it: kind and ETag.
pub(crate) fn condition(c: &WriteCondition) -> (i32, Option<&str>) {
    match c {
        WriteCondition::Always => (0, None),
        WriteCondition::IfAbsent => (1, None),
        WriteCondition::IfMatch(etag) => (2, Some(etag)),
    }
}

/// What a statement's verdict means.
pub(crate) fn verdict(v: i32) -> Attempt<()> {
    let refusal = match v {
        0 => return Ok(()),
        1 => StoreError::NoSuchBucket,
        2 => StoreError::MasterKeyRetired,
        3 => StoreError::SourceChanged,
        4 => StoreError::PreconditionFailed,
        5 => StoreError::NoSuchKey,
        6 => StoreError::NoSuchUpload,
        7 => StoreError::PartChanged,
        8 => StoreError::BucketNotEmpty,
        9 => StoreError::BucketChanged,
        other => StoreError::Database(format!("unknown verdict {other}")),
    };
    Err(Fail::Store(refusal))
}

/// The least string above every string that starts with `prefix`, in byte order (UTF-8
/// orders as code points do): the prefix with its last character raised by one, dropping
/// trailing characters that cannot be raised. `None`: no such bound (empty prefix).
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_just_past_every_key_it_begins() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_end("é").as_deref(), Some("ê"));
        // The surrogate gap is skipped, and an unraisable last character dropped.
        assert_eq!(prefix_end("x\u{d7ff}").as_deref(), Some("x\u{e000}"));
        assert_eq!(prefix_end("x\u{10ffff}").as_deref(), Some("y"));
        assert_eq!(prefix_end("\u{10ffff}"), None);
        for (prefix, inside, outside) in [("a/", "a/\u{10ffff}z", "a0"), ("é", "éz", "ê")] {
            let end = prefix_end(prefix).unwrap();
            assert!(inside.as_bytes() < end.as_bytes() && outside.as_bytes() >= end.as_bytes());
        }
    }

    #[test]
    fn verdicts_map_to_the_store_errors_the_s3_layer_knows() {
        assert!(verdict(0).is_ok());
        assert!(matches!(
            verdict(5),
            Err(Fail::Store(StoreError::NoSuchKey))
        ));
        assert!(matches!(
            verdict(7),
            Err(Fail::Store(StoreError::PartChanged))
        ));
        assert!(matches!(
            verdict(99),
            Err(Fail::Store(StoreError::Database(_)))
        ));
    }
}
