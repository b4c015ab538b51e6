//! A hot request costs one round trip: counted on the wire, through a proxy that tallies
//! each burst the client sends (a statement's Bind/Execute/Sync go out as one).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coffer_store::contract::fixtures::{self, bucket};
use coffer_store::{
    BlobId, EncryptionRecord, KeyStore, KmsRecordSnapshot, KmsWrite, MetaStore, ObjectRecord,
    WriteCondition,
};
use coffer_store_postgres::{ConnectOptions, PostgresMetaStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::postgres::harness::{Scratch, runtime, url};

/// Forwards connections to `target`, counting the client's sends.
async fn counting_proxy(target: String, sends: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&target).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let sends = sends.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // Counted before it is forwarded: the answer, and the caller's next
                    // step, cannot come before the count.
                    sends.fetch_add(1, Ordering::SeqCst);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
        }
    });
    addr
}

/// A record naming one fresh blob.
fn object() -> ObjectRecord {
    fixtures::object(&[&BlobId::random()])
}

#[test]
fn put_get_and_head_cost_one_round_trip_each_and_rare_changes_four() {
    let Some(url) = url() else { return };
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => return,
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let sends = Arc::new(AtomicUsize::new(0));
    let proxy = rt.block_on(counting_proxy(format!("{host}:{port}"), sends.clone()));
    // Plain text through the proxy, one connection, so every call uses the same session.
    let mut proxied = url.replace(&format!("{host}:{port}"), &proxy);
    proxied.push(if proxied.contains('?') { '&' } else { '?' });
    proxied.push_str("sslmode=disable");
    let options = ConnectOptions {
        pool_size: 1,
        ..scratch.options()
    };
    let s = rt
        .block_on(PostgresMetaStore::connect_with(&proxied, options))
        .unwrap();
    let bucket = bucket("b");
    rt.block_on(s.create_bucket(&bucket)).unwrap();
    let trips = |what: &str, expected: usize, f: &dyn Fn()| {
        f(); // prepares the statements on this connection
        sends.store(0, Ordering::SeqCst);
        f();
        let n = sends.load(Ordering::SeqCst);
        assert_eq!(n, expected, "{what} took {n} round trips");
    };
    let count = |what: &str, f: &dyn Fn()| trips(what, 1, f);
    count("put_object", &|| {
        rt.block_on(s.put_object("b", "k", &object(), &WriteCondition::Always))
            .unwrap();
    });
    // A PUT decides on the bucket as read a moment ago; its statement checks it.
    count("get_bucket_for_write + put_object_in_bucket (PUT)", &|| {
        let decided = rt.block_on(s.get_bucket_for_write("b")).unwrap().unwrap();
        rt.block_on(s.put_object_in_bucket(&decided, "k", &object(), &WriteCondition::Always))
            .unwrap();
    });
    count("conditional put_object", &|| {
        let _ = rt.block_on(s.put_object("b", "k", &object(), &WriteCondition::IfAbsent));
    });
    count("get_bucket_and_object (GET/HEAD)", &|| {
        let (b, o) = rt.block_on(s.get_bucket_and_object("b", "k")).unwrap();
        assert!(b.is_some() && o.is_some());
    });
    // An SSE-KMS object brings its key's record along: the KMS need not read it again.
    let arn = "arn:aws:kms:us-east-1:111122223333:key/2f0e1c4a-key";
    let mut sealed = object();
    sealed.encryption = Some(EncryptionRecord::Kms {
        key_arn: arn.into(),
        sealed_key: "c2VhbGVk".into(),
        context: None,
    });
    rt.block_on(s.put_object("b", "kms", &sealed, &WriteCondition::Always))
        .unwrap();
    let key_id = "key/2f0e1c4a-key".to_string();
    let read_key = || rt.block_on(s.get_object_for_read("b", "kms")).unwrap();
    assert_eq!(
        read_key().kms_key,
        Some(KmsRecordSnapshot {
            id: key_id.clone(),
            found: None
        }),
        "a key with no record is read as absent"
    );
    s.write_kms_records(vec![KmsWrite::Put {
        id: key_id.clone(),
        record: b"{\"state\":\"Enabled\"}".to_vec(),
        expected: None,
    }])
    .unwrap();
    let (version, _) = s.get_kms_record(&key_id).unwrap().unwrap();
    count("get_object_for_read (SSE-KMS GET)", &|| {
        let read = read_key();
        assert!(read.bucket.is_some() && read.object.is_some());
        assert_eq!(
            read.kms_key,
            Some(KmsRecordSnapshot {
                id: key_id.clone(),
                found: Some((version, b"{\"state\":\"Enabled\"}".to_vec())),
            })
        );
    });
    count("get_object_for_read (no KMS key)", &|| {
        let read = rt.block_on(s.get_object_for_read("b", "k")).unwrap();
        assert!(read.object.is_some() && read.kms_key.is_none());
    });
    count("get_object", &|| {
        assert!(rt.block_on(s.get_object("b", "k")).unwrap().is_some());
    });
    // A rare change is a short transaction: BEGIN, read, write, COMMIT.
    trips("set_object_tags", 4, &|| {
        assert!(
            rt.block_on(s.set_object_tags("b", "k", &Default::default()))
                .unwrap()
        );
    });
    count(
        "get_bucket_for_write + delete_object_in_bucket (DELETE)",
        &|| {
            let decided = rt.block_on(s.get_bucket_for_write("b")).unwrap().unwrap();
            rt.block_on(s.delete_object_in_bucket(&decided, "gone", &WriteCondition::Always))
                .unwrap();
        },
    );
    count("delete_object", &|| {
        rt.block_on(s.delete_object("b", "k", &WriteCondition::Always))
            .unwrap();
    });
}
