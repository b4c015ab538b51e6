//! Chores across gateways: one leader each, failover after kill -9, and garbage
//! collection on one gateway during a burst of writes on the other.

use aws_sdk_s3::primitives::ByteStream;

use super::{metric, two_gateways};
use crate::common::*;

#[tokio::test]
async fn each_gateway_has_its_own_id_and_each_chore_one_leader() {
    let Some((a, b)) = two_gateways() else { return };
    let id = |s: &Server| {
        std::fs::read_to_string(s.data_dir().join("gateway-id"))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_ne!(id(&a), id(&b));
    for s in [&a, &b] {
        assert!(
            s.stdout_lines
                .iter()
                .any(|l| l == &format!("coffer gateway {}", id(s))),
            "{:?}",
            s.stdout_lines
        );
    }
    for chore in ["master-key-rotation", "kms-schedule", "garbage-collection"] {
        let label = format!("chore=\"{chore}\"");
        let leaders =
            metric(&a, "coffer_chore_leader", &label) + metric(&b, "coffer_chore_leader", &label);
        assert_eq!(leaders, 1.0, "{chore}");
    }
}

/// kill -9 of the gateway that leads every chore: the other takes the leases over once they
/// run out (a 3 s lease here, renewed each second), and the failover time is printed.
#[tokio::test]
async fn a_killed_leaders_chores_pass_to_the_other_gateway() {
    if !shared_backends() {
        eprintln!("SKIPPED: two gateways need the shared backends (COFFER_E2E_BACKENDS=shared)");
        return;
    }
    let prelude = "export COFFER_CHORE_LEASE_SECONDS=3";
    let mut a = Server::start_after_shell(Some(prelude), "", &[], None);
    let mut b = a.prepared_gateway();
    std::fs::copy(a.data_dir().join("root.key"), b.data_dir().join("root.key")).unwrap();
    b.start_prepared_after_shell(prelude);
    let chores = ["master-key-rotation", "kms-schedule", "garbage-collection"];
    let leads = |s: &Server| {
        chores
            .iter()
            .map(|c| metric(s, "coffer_chore_leader", &format!("chore=\"{c}\"")))
            .sum::<f64>()
    };
    // A started first and took every lease; B waits.
    assert_eq!((leads(&a), leads(&b)), (3.0, 0.0));
    a.kill9();
    let killed = std::time::Instant::now();
    while leads(&b) < 3.0 {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(10),
            "B did not take the chores over"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let failover = killed.elapsed();
    eprintln!(
        "chore failover after kill -9: {:.2} s (lease 3 s)",
        failover.as_secs_f64()
    );
    // Within a lease and one renewal (and a little for the polling).
    assert!(failover.as_secs_f64() <= 3.0 + 1.0 + 0.5, "{failover:?}");
}

/// Garbage collection on A with no grace at all, again and again, while B writes a burst:
/// only write intents keep B's blobs (committed, but not yet named by a record) alive, and
/// every object B acknowledged reads back whole on both gateways afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_on_one_gateway_during_a_burst_on_the_other_takes_nothing_in_use() {
    let Some((a, b)) = two_gateways() else { return };
    let cb = b.alice();
    cb.create_bucket().bucket("burst").send().await.unwrap();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let cb = cb.clone();
            tokio::spawn(async move {
                for i in 0..40u64 {
                    cb.put_object()
                        .bucket("burst")
                        .key(format!("w{w}/{i:02}"))
                        .body(ByteStream::from(pattern(70_000, w * 100 + i)))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut collections = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        tokio::task::block_in_place(|| collect_with_no_grace(&a));
        collections += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        collections >= 2,
        "only {collections} collections ran during the burst"
    );
    for client in [&a.alice(), &cb] {
        for w in 0..4u64 {
            for i in 0..40u64 {
                let got = client
                    .get_object()
                    .bucket("burst")
                    .key(format!("w{w}/{i:02}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(body_bytes(got).await, pattern(70_000, w * 100 + i));
            }
        }
    }
    // Once the burst is over, a collection still succeeds.
    collect_with_no_grace(&a);
}

/// One garbage collection through `server`'s admin API, sparing no blob for its age.
fn collect_with_no_grace(server: &Server) {
    let (status, out) = signed_raw(
        server,
        "POST",
        "/",
        &[("x-coffer-admin", "collect-garbage")],
        br#"{"grace_seconds":0}"#,
    );
    assert_eq!(status, 200, "{out}");
}
