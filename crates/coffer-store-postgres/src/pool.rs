//! The connection pool: how a URL becomes connections that are SERIALIZABLE by default, in
//! the right schema, over TLS when the URL asks for it.

use std::time::Duration;

use coffer_store::{StoreError, StoreResult};
use deadpool_postgres::{Hook, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How [`crate::PostgresMetaStore`] connects, beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// The schema to keep the tables in (the connection's `search_path`); `None` leaves the
    /// server's default (normally `public`). Must be a plain identifier.
    pub schema: Option<String>,
    /// The TLS client configuration, which verifies the server's certificate (see
    /// [`crate::tls_trusting`] for a private CA). `None`: with `sslmode=require`, the
    /// system's root certificates; with `prefer` (the default), TLS without verification,
    /// as libpq does (see `tls`).
    pub tls: Option<rustls::ClientConfig>,
    /// How long a request waits for a free connection, or for a new one to open, before it
    /// is answered `Unavailable`.
    pub wait_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            schema: None,
            tls: None,
            wait_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether `name` can go into `search_path` and DDL unquoted: nothing to escape, nothing to
/// inject.
pub(crate) fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// The server-side settings every connection starts with, added to any the URL carries.
/// SERIALIZABLE by default makes every single-statement call (most of them) a serializable
/// transaction of its own without a `BEGIN` round trip.
fn session_options(existing: Option<&str>, schema: Option<&str>) -> String {
    let mut options = existing.unwrap_or_default().to_owned();
    let mut add = |setting: String| {
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str(&setting);
    };
    add("-c default_transaction_isolation=serializable".into());
    if let Some(schema) = schema {
        add(format!("-c search_path={schema}"));
    }
    options
}

/// The planner settings every connection runs with.
///
/// PostgreSQL's serializable isolation locks what a query reads: a sequential scan locks
/// the whole table, so every concurrent writer of it conflicts with every other and most
/// retry. The planner picks such scans for small tables (every table, early on); steering
/// it to the indexes keeps read locks to the index pages actually visited (every query
/// here is written to be answered from an index). Set after connecting, not in the startup
/// options, because an engine without the setting (CockroachDB) would refuse the
/// connection; there it is simply skipped.
///
/// JIT compilation goes off with it: a disabled scan still costs 10^10 in the planner's
/// sums, which puts every statement that touches a table without a usable index (the
/// one-row master-key floor) above `jit_above_cost`, and PostgreSQL then spent about 1.7 s
/// of CPU compiling each 4 KiB PUT (measured with `auto_explain`). These statements are
/// short; JIT never pays for them.
///
/// Prepared statements keep one generic plan: left to choose, PostgreSQL planned the PUT's
/// statement afresh at every execution once it carried the bucket's record to compare (an
/// SSE-KMS PUT), about 0.5 ms of the database's CPU per PUT, more than executing it (logged
/// with `log_min_duration_statement = 0`: bind 0.49 ms, execute 0.23 ms). Every statement
/// here finds its rows by key through an index, which a generic plan does as well.
fn planner_settings() -> Hook {
    Hook::async_fn(|client, _| {
        Box::pin(async move {
            for setting in [
                "SET enable_seqscan = off",
                "SET jit = off",
                "SET plan_cache_mode = force_generic_plan",
            ] {
                if let Err(e) = client.batch_execute(setting).await {
                    tracing::debug!(error = %e, setting, "not supported by the database; skipped");
                }
            }
            Ok(())
        })
    })
}

pub(crate) fn build_pool(url: &str, options: &ConnectOptions) -> StoreResult<Pool> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Database(format!("postgres URL: {e}")))?;
    if let Some(schema) = &options.schema
        && !is_plain_identifier(schema)
    {
        return Err(StoreError::Database(format!(
            "postgres schema {schema:?}: use lowercase letters, digits and underscores"
        )));
    }
    let session = session_options(config.get_options(), options.schema.as_deref());
    config.options(&session);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.wait_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("coffer");
    }
    let tls = crate::tls::client_config(config.get_ssl_mode(), options.tls.as_ref())?;
    let manager = Manager::from_config(
        config,
        MakeRustlsConnect::new(tls),
        // `Fast` checks only that the connection is open: a recycled connection costs no
        // round trip, and one that broke answers with an error that the caller maps to
        // `Unavailable`, after which the pool drops it.
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.wait_timeout))
        .recycle_timeout(Some(options.wait_timeout))
        .post_create(planner_settings())
        .build()
        .map_err(|e| StoreError::Database(format!("postgres pool: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_options_keep_the_urls_own_and_name_the_schema() {
        assert_eq!(
            session_options(None, None),
            "-c default_transaction_isolation=serializable"
        );
        assert_eq!(
            session_options(Some("-c work_mem=8MB"), Some("coffer_x")),
            "-c work_mem=8MB -c default_transaction_isolation=serializable -c search_path=coffer_x"
        );
    }

    #[test]
    fn only_plain_schema_names_are_accepted() {
        assert!(is_plain_identifier("coffer_test_0a9"));
        for bad in ["", "1abc", "a-b", "A", "a;drop", "a b", &"a".repeat(64)] {
            assert!(!is_plain_identifier(bad), "{bad:?}");
        }
        let options = ConnectOptions {
            schema: Some("x; DROP".into()),
            ..Default::default()
        };
        assert!(build_pool("postgres://u@127.0.0.1/db", &options).is_err());
    }
}
