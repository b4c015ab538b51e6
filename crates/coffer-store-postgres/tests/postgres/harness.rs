//! Scratch schemas on the test database, and stores connected to them.

use std::sync::Arc;

use coffer_store::MetaStore;
use coffer_store_postgres::{ConnectOptions, PostgresMetaStore};

/// The test database's URL; `None` (after saying so loudly) when there is none to use.
/// Under `CI=true` a missing URL is a failure, never a skip.
pub fn url() -> Option<String> {
    match std::env::var("COFFER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("COFFER_TEST_POSTGRES_URL is unset and CI=true: the PostgreSQL tests must run")
        }
        _ => {
            // Straight to the process's stderr: the test harness captures `eprintln!` of
            // passing tests, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: COFFER_TEST_POSTGRES_URL is unset; the PostgreSQL backend was NOT tested"
            );
            None
        }
    }
}

/// A multi-threaded runtime, as a server has.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a statement on the test database on a thread and runtime of its own, so it works
/// from any context (a test body, a runtime worker, a destructor).
pub fn admin(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let conn = tokio::spawn(conn);
            let out = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = conn.await;
            out
        })
    })
    .join()
    .unwrap()
}

/// A schema that exists for one test and is dropped with this value.
pub struct Scratch {
    pub url: String,
    pub schema: String,
}

impl Scratch {
    pub fn new(url: &str) -> Self {
        let schema = format!("coffer_test_{}", uuid::Uuid::new_v4().simple());
        admin(url, format!("CREATE SCHEMA {schema}")).expect("create a scratch schema");
        Scratch {
            url: url.to_owned(),
            schema,
        }
    }

    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            schema: Some(self.schema.clone()),
            pool_size: 8,
            ..Default::default()
        }
    }

    /// A store on this schema, connected on the current runtime.
    pub async fn connect(&self) -> PostgresMetaStore {
        PostgresMetaStore::connect_with(&self.url, self.options())
            .await
            .expect("connect to the test database")
    }

    /// The one number `sql` (a query in this schema) answers.
    pub fn count(&self, sql: &str) -> i64 {
        let (url, schema, sql) = (self.url.clone(), self.schema.clone(), sql.to_owned());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                let conn = tokio::spawn(conn);
                client
                    .batch_execute(&format!("SET search_path = {schema}"))
                    .await
                    .unwrap();
                let n: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
                drop(client);
                let _ = conn.await;
                n
            })
        })
        .join()
        .unwrap()
    }

    /// Runs SQL in this schema.
    pub fn sql(&self, sql: &str) {
        admin(
            &self.url,
            format!("SET search_path = {}; {sql}", self.schema),
        )
        .unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = admin(&self.url, format!("DROP SCHEMA {} CASCADE", self.schema)) {
            eprintln!("could not drop scratch schema {}: {e}", self.schema);
        }
    }
}

/// Two stores, with pools of their own, on one fresh schema: what the contract suite runs
/// against. Call from inside a runtime (the suite enters its own).
pub fn fresh_pair(url: &str) -> ([Arc<dyn MetaStore>; 2], Scratch) {
    let scratch = Scratch::new(url);
    let rt = tokio::runtime::Handle::current();
    let a = rt.block_on(scratch.connect());
    let b = rt.block_on(scratch.connect());
    ([Arc::new(a), Arc::new(b)], scratch)
}
