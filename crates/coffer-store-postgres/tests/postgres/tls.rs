//! TLS to the database through rustls, against a server that speaks it. Needs
//! `COFFER_TEST_POSTGRES_TLS_URL` (with `sslmode=require`) and `COFFER_TEST_POSTGRES_TLS_CA`
//! (the PEM of the CA that signed the server's certificate); skipped loudly without them.

use coffer_store::contract::fixtures::bucket;
use coffer_store::{MetaStore, StoreError};
use coffer_store_postgres::{ConnectOptions, PostgresMetaStore, tls_trusting};

use crate::postgres::harness::{Scratch, runtime};

fn tls_env() -> Option<(String, Vec<u8>)> {
    let url = std::env::var("COFFER_TEST_POSTGRES_TLS_URL").ok()?;
    let ca = std::fs::read(std::env::var("COFFER_TEST_POSTGRES_TLS_CA").ok()?).ok()?;
    Some((url, ca))
}

#[test]
fn a_store_connects_over_verified_tls_and_refuses_an_unknown_ca() {
    let Some((url, ca)) = tls_env() else {
        use std::io::Write;
        // CI starts a server with TLS (scripts/services/postgres.sh): a skip there is a failure.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but COFFER_TEST_POSTGRES_TLS_URL/_CA are unset: TLS to PostgreSQL must be tested"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: COFFER_TEST_POSTGRES_TLS_URL/_CA unset; TLS to PostgreSQL was NOT tested"
        );
        return;
    };
    assert!(
        url.contains("sslmode=require"),
        "the TLS URL must require TLS"
    );
    let plain = url.replace("sslmode=require", "sslmode=disable");
    let scratch = Scratch::new(&plain);
    let app = scratch.schema.clone();
    let tagged = |url: &str| format!("{url}&application_name={app}");
    let rt = runtime();
    let verified = ConnectOptions {
        tls: Some(tls_trusting(&ca).unwrap()),
        ..scratch.options()
    };
    let store = rt
        .block_on(PostgresMetaStore::connect_with(&tagged(&url), verified))
        .unwrap();
    rt.block_on(store.create_bucket(&bucket("b"))).unwrap();
    // `prefer` with no CA given encrypts without verifying, as libpq does.
    let preferred = url.replace("sslmode=require", "sslmode=prefer");
    let opportunistic = rt
        .block_on(PostgresMetaStore::connect_with(
            &tagged(&preferred),
            scratch.options(),
        ))
        .unwrap();
    assert!(
        rt.block_on(opportunistic.get_bucket("b"))
            .unwrap()
            .is_some()
    );
    // Every session of ours is encrypted, as the server sees it.
    let sessions = |ssl: bool| {
        scratch.count(&format!(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = '{app}' AND s.ssl = {ssl}"
        ))
    };
    assert!(sessions(true) >= 2, "no encrypted session");
    assert_eq!(sessions(false), 0, "a plain session");
    // A CA that did not sign the server's certificate is refused, not ignored; so is the
    // system's trust, which knows nothing of the test CA.
    for tls in [Some(tls_trusting(STRANGER_CA.as_bytes()).unwrap()), None] {
        let options = ConnectOptions {
            tls,
            ..scratch.options()
        };
        let refused = rt.block_on(PostgresMetaStore::connect_with(&url, options));
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{:?}",
            refused.err()
        );
    }
}

/// A self-signed CA certificate nothing here was signed by.
const STRANGER_CA: &str = include_str!("stranger-ca.pem");
