//! One audit trail for two gateways: each appends its own stream, one seals (cuts and signs)
//! under a lease, and after kill -9 of the sealer the other takes sealing over; `coffer audit
//! verify` on the survivor passes over both gateways' records, LookupEvents there finds a
//! call made on the dead one, and an edit in the database is named.

use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use serde_json::Value;

use super::metric;
use crate::audit::signed_json;
use crate::common::*;
use crate::kms::kms_client;
use crate::rekey::{admin_config, coffer_command};

/// Log files every second, digests every two, leases of three seconds.
const FAST_TRAIL: &str = "audit_log_file_seconds = 1\naudit_digest_seconds = 2";
const SHORT_LEASES: &str = "export COFFER_CHORE_LEASE_SECONDS=3";

fn sealer(s: &Server) -> f64 {
    metric(s, "coffer_chore_leader", "chore=\"audit-sealing\"")
}

fn verify(s: &Server) -> (bool, String) {
    coffer_command(&admin_config(s), "audit", &["verify"])
}

/// How many of `what` the verification's summary line counts ("12 records checked").
fn counted(out: &str, what: &str) -> u64 {
    out.split(what)
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_is_one_across_gateways_and_survives_its_sealers_death() {
    if !shared_backends() {
        eprintln!("SKIPPED: two gateways need the shared backends (COFFER_E2E_BACKENDS=shared)");
        return;
    }
    let mut a = Server::start_after_shell(Some(SHORT_LEASES), FAST_TRAIL, &[], None);
    let mut b = a.prepared_gateway_configured(FAST_TRAIL);
    std::fs::copy(a.data_dir().join("root.key"), b.data_dir().join("root.key")).unwrap();
    b.start_prepared_after_shell(SHORT_LEASES);
    assert_eq!(
        (sealer(&a), sealer(&b)),
        (1.0, 0.0),
        "A started first and seals"
    );

    // KMS calls on both gateways, in turns, over several cuts and digests.
    let (ka, kb) = (kms_client(&a, ALICE), kms_client(&b, ALICE));
    let key = ka.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    for round in 0..3 {
        for (k, side) in [(&ka, "a"), (&kb, "b")] {
            k.encrypt()
                .key_id(&arn)
                .plaintext(Blob::new(b"x".to_vec()))
                .encryption_context("gateway", format!("{side}-{round}"))
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (ok, out) = verify(&b);
    assert!(ok, "{out}");
    assert!(counted(&out, " digests and") >= 1, "{out}");
    // CreateKey and six Encrypts at least; every record in the database's journal or in a
    // log file of the object store, none under either data directory.
    assert!(counted(&out, " records checked") >= 7, "{out}");
    for s in [&a, &b] {
        assert!(!s.data_dir().join("audit/journal.jsonl").exists());
        assert!(!s.data_dir().join("audit/AWSLogs").exists());
    }

    // The sealer dies with a call of its own just made; B takes sealing over.
    ka.encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .encryption_context("gateway", "a-last")
        .send()
        .await
        .unwrap();
    a.kill9();
    let killed = Instant::now();
    while sealer(&b) < 1.0 {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "B did not take sealing over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "audit sealing failover after kill -9: {:.2} s (lease 3 s)",
        killed.elapsed().as_secs_f64()
    );
    let digests_before = counted(&verify(&b).1, " digests and");
    kb.encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .encryption_context("gateway", "b-last")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (ok, out) = verify(&b);
    assert!(ok, "{out}");
    assert!(
        counted(&out, " digests and") > digests_before,
        "B signs digests now: {out}"
    );
    assert!(counted(&out, " records checked") >= 9, "{out}");

    // LookupEvents on B finds the call A made just before it died.
    let (status, body) = signed_json(
        &b,
        ALICE,
        "cloudtrail",
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
        r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"Encrypt"}],"MaxResults":50}"#,
    );
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body[body.find('{').unwrap()..]).unwrap();
    let contexts: Vec<String> = page["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let full: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
            full["requestParameters"]["encryptionContext"]["gateway"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    for want in ["a-0", "b-0", "a-2", "a-last", "b-last"] {
        assert!(
            contexts.iter().any(|c| c == want),
            "{want} not found: {contexts:?}"
        );
    }

    // Someone with the database edits one of B's records waiting in the journal: named.
    // A cut every second may race the edit: if it copied the record before the edit and
    // forgot the row after it, the trail holds the record as it was and the edit is gone,
    // which is not a forgery. Then the row is gone too (checked), and another call, another try.
    let b_id = std::fs::read_to_string(b.data_dir().join("gateway-id")).unwrap();
    let b_id = b_id.trim();
    for attempt in 0..5 {
        let mark = format!("b-edited-{attempt}");
        kb.encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .encryption_context("gateway", &mark)
            .send()
            .await
            .unwrap();
        let edited = psql(
            &b,
            &format!(
                "UPDATE coffer_audit_journal \
                 SET line = convert_to(replace(convert_from(line, 'UTF8'), '{mark}', 'b-forged'), 'UTF8') \
                 WHERE stream = '{b_id}' AND convert_from(line, 'UTF8') LIKE '%{mark}%' RETURNING seq"
            ),
        );
        let edited = edited.trim();
        if edited.is_empty() {
            continue; // cut before the edit could reach it
        }
        let (mut ok, mut out) = verify(&b);
        if ok {
            // A cut may hold the row between copying and forgetting it: let it finish.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            (ok, out) = verify(&b);
        }
        if ok {
            let left = psql(
                &b,
                &format!(
                    "SELECT count(*) FROM coffer_audit_journal \
                     WHERE stream = '{b_id}' AND seq = {edited}"
                ),
            );
            assert_eq!(
                left.trim(),
                "0",
                "record {edited} was edited, is still in the journal, and verification missed it: {out}"
            );
            continue;
        }
        assert!(
            out.lines().any(|l| l.starts_with("FAIL")
                && l.contains(&format!("of stream {b_id}"))
                && l.contains("was changed")),
            "{out}"
        );
        return;
    }
    panic!("every record was cut before its edit could stay");
}
