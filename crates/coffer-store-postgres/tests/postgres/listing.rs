//! Listings stream a bucket in pages, in byte order, within the prefix's key range.

use coffer_store::contract::fixtures::{self, bucket};
use coffer_store::{BlobId, ListControl, MetaStore, ObjectRecord, WriteCondition};

use crate::postgres::harness::{Scratch, runtime, url};

/// A record naming one fresh blob.
fn object() -> ObjectRecord {
    fixtures::object(&[&BlobId::random()])
}

#[test]
fn a_large_bucket_lists_across_pages_in_order_and_stops_when_told() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = std::sync::Arc::new(rt.block_on(scratch.connect()));
    rt.block_on(async {
        s.create_bucket(&bucket("b")).await.unwrap();
        s.create_bucket(&bucket("b0")).await.unwrap();
        s.put_object("b0", "p/0000", &object(), &WriteCondition::Always)
            .await
            .unwrap();
    });
    // 2,500 keys under p/ (more than two pages) and a few around it.
    let mut expected: Vec<String> = (0..2500).map(|i| format!("p/{i:04}")).collect();
    let started = std::time::Instant::now();
    rt.block_on(async {
        let mut writes = Vec::new();
        for chunk in expected.chunks(250) {
            let (chunk, s) = (chunk.to_vec(), s.clone());
            writes.push(async move {
                for k in chunk {
                    s.put_object("b", &k, &object(), &WriteCondition::Always)
                        .await
                        .unwrap();
                }
            });
        }
        futures_join_all(writes).await;
        eprintln!("2,500 puts by 10 writers: {:?}", started.elapsed());
        for k in ["p", "p0", "o/z", "p/\u{10ffff}"] {
            s.put_object("b", k, &object(), &WriteCondition::Always)
                .await
                .unwrap();
        }
    });
    expected.push("p/\u{10ffff}".into());
    let list = |prefix: &str, after: &str, stop_at: usize| {
        let mut seen = Vec::new();
        rt.block_on(s.list_objects("b", prefix, after, &mut |k, _| {
            seen.push(k.to_owned());
            if seen.len() == stop_at {
                ListControl::Stop
            } else {
                ListControl::Continue
            }
        }))
        .unwrap();
        seen
    };
    assert_eq!(list("p/", "", usize::MAX), expected);
    assert_eq!(list("p/", "p/1499", usize::MAX), expected[1500..]);
    assert_eq!(list("p/", "", 1234), expected[..1234]);
    let all = list("", "", usize::MAX);
    assert_eq!(all.len(), 2504);
    assert_eq!(all.first().map(String::as_str), Some("o/z"));
    assert!(all.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
    assert_eq!(list("p/", "q", usize::MAX), Vec::<String>::new());
}

/// Runs futures concurrently on the current task (no extra dependency for a join).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(futures: Vec<F>) {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
}
