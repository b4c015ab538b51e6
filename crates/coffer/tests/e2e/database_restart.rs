//! Under the shared backends: PostgreSQL restarted while requests run. Every answer is right
//! or a clean refusal a client retries (503 `SlowDown`/`ServiceUnavailable`, 500
//! `InternalError`), never a wrong body or a lost acknowledged write; once the database is
//! back the server serves again without a restart of its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

fn postgres_script(action: &str) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services/postgres.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(action)
        .status()
        .expect("run scripts/services/postgres.sh");
    assert!(status.success(), "postgres.sh {action} failed");
}

/// Codes a client may get while the database is away: each is retryable or a plain failure,
/// none claims something false.
fn acceptable_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("SlowDown" | "ServiceUnavailable" | "InternalError")
    )
}

#[tokio::test]
async fn a_database_restart_under_load_gives_right_answers_or_clean_refusals() {
    if !shared_backends() {
        eprintln!("SKIPPED outside the shared backends: this test restarts PostgreSQL");
        return;
    }
    let server = Server::start();
    // No retries: every refusal the server gives is seen, none hidden behind a retry.
    let c = aws_sdk_s3::Client::from_conf(
        server
            .alice()
            .config()
            .to_builder()
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    c.create_bucket().bucket("restart").send().await.unwrap();
    let acknowledged: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let wrong: Arc<Mutex<Vec<String>>> = Arc::default();
    let refusals = Arc::new(Mutex::new(0u64));
    let stop = Instant::now() + Duration::from_secs(12);
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let (c, ack, wrong, refusals) = (
            c.clone(),
            acknowledged.clone(),
            wrong.clone(),
            refusals.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < stop {
                let key = format!("w{w}-{i}");
                let data = pattern(20_000 + (i as usize % 7) * 1000, w * 100_000 + i);
                match c
                    .put_object()
                    .bucket("restart")
                    .key(&key)
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await
                {
                    Ok(_) => {
                        ack.lock().unwrap().insert(key.clone(), data.clone());
                    }
                    Err(e) => {
                        let code = e.as_service_error().and_then(|s| s.meta().code());
                        if acceptable_refusal(code) || e.as_service_error().is_none() {
                            *refusals.lock().unwrap() += 1;
                        } else {
                            wrong.lock().unwrap().push(format!("PUT {key}: {code:?}"));
                        }
                    }
                }
                // Read back something acknowledged earlier: its bytes, or a clean refusal.
                let earlier = ack
                    .lock()
                    .unwrap()
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()));
                if let Some((k, v)) = earlier {
                    match c.get_object().bucket("restart").key(&k).send().await {
                        Ok(out) => {
                            let got = out.body.collect().await.map(|b| b.into_bytes().to_vec());
                            if let Ok(got) = got
                                && got != v
                            {
                                wrong.lock().unwrap().push(format!("GET {k}: other bytes"));
                            }
                        }
                        Err(e) => {
                            let code = e.as_service_error().and_then(|s| s.meta().code());
                            if !(acceptable_refusal(code) || e.as_service_error().is_none()) {
                                wrong.lock().unwrap().push(format!("GET {k}: {code:?}"));
                            }
                        }
                    }
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    postgres_script("stop");
    tokio::time::sleep(Duration::from_secs(2)).await;
    postgres_script("start");
    for w in workers {
        w.await.unwrap();
    }
    let wrong = wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
    assert!(
        *refusals.lock().unwrap() > 0,
        "no request met the restart: the test proved nothing"
    );
    // Serving again, and every acknowledged write is there, byte for byte.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 10);
    for (key, data) in &acknowledged {
        let got = c
            .get_object()
            .bucket("restart")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} after the restart: {e:?}"));
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().to_vec(),
            *data
        );
    }
}
