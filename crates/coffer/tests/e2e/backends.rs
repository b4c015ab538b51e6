//! Which backends the end-to-end servers run on: the embedded defaults, or PostgreSQL and
//! the S3 store under `COFFER_E2E_BACKENDS=shared` (CI's second pass), each server with a
//! schema and a prefix of its own.

use std::process::Command;
use std::time::SystemTime;

/// Whether this run drives servers over the shared backends (`COFFER_E2E_BACKENDS=shared`):
/// PostgreSQL at `COFFER_TEST_POSTGRES_URL` and the S3 store of `COFFER_TEST_S3_*`.
pub fn shared_backends() -> bool {
    std::env::var("COFFER_E2E_BACKENDS").is_ok_and(|v| v == "shared")
}

/// For a test that looks inside the embedded data directory (files, the redb database):
/// under the shared backends there is nothing there to look at, so it says so and stops.
pub fn embedded_only(what: &str) -> bool {
    if shared_backends() {
        eprintln!("SKIPPED under the shared backends: this test {what}");
        return true;
    }
    false
}

/// `[metadata]` and `[blobs]` for one server under the shared backends: a PostgreSQL schema
/// and an object-store prefix of its own, so servers never see each other's state.
pub(crate) fn shared_backend_sections() -> String {
    if !shared_backends() {
        return String::new();
    }
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("COFFER_E2E_BACKENDS=shared needs {name}"))
    };
    let unique = format!(
        "e2e_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let url = var("COFFER_TEST_POSTGRES_URL");
    // The schema must exist before the server's migrations put its tables there.
    let created = Command::new("psql")
        .arg(&url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("CREATE SCHEMA {unique}"))
        .status()
        .expect("psql (from Debian's postgresql-client) creates each server's schema");
    assert!(created.success(), "CREATE SCHEMA {unique} failed");
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        r#"
[metadata]
backend = "postgres"
url = "{url}{sep}options=-csearch_path%3D{unique}"
[blobs]
backend = "s3"
endpoint = "{endpoint}"
bucket = "{bucket}"
prefix = "{unique}"
region = "{region}"
access_key = "{access}"
secret_key = "{secret}"
"#,
        endpoint = var("COFFER_TEST_S3_ENDPOINT"),
        bucket = var("COFFER_TEST_S3_BUCKET"),
        region = std::env::var("COFFER_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
        access = var("COFFER_TEST_S3_ACCESS_KEY"),
        secret = var("COFFER_TEST_S3_SECRET_KEY"),
    )
}

/// Runs `sql` with `psql` in the PostgreSQL schema of `server` (under the shared backends),
/// returning what it printed (unaligned, tuples only): how a test reaches past the server
/// into its database, as an attacker with database access would.
pub fn psql(server: &crate::common::Server, sql: &str) -> String {
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    let url = config
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a server over the shared backends has a postgres url");
    let (base, schema) = url
        .split_once("options=-csearch_path%3D")
        .expect("each e2e server has a schema of its own");
    let base = base.trim_end_matches(['?', '&']);
    let out = Command::new("psql")
        .arg(base)
        .args(["-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("SET search_path TO {schema}; {sql}"))
        .output()
        .expect("psql (from Debian's postgresql-client)");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
