//! `[metadata]` and `[blobs]`: the embedded backends named explicitly serve as the default
//! does; a shared backend that cannot be used is refused at start with a one-line reason
//! (its password never printed), never silently replaced by the embedded one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_config(dir: &Path, sections: &str) -> std::path::PathBuf {
    let path = dir.join("coffer.toml");
    let text = format!(
        "data_dir = \"{}\"\nhttps_listen = \"\"\nhttp_listen = \"127.0.0.1:0\"\n{sections}",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_embedded_backends_named_explicitly_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[metadata]\nbackend = \"embedded\"\n[blobs]\nbackend = \"local\"\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("COFFER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.starts_with("coffer ready") => break Some(line),
            Ok(_) => continue,
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let ready = ready.expect("no ready line from a server with explicit embedded backends");
    assert!(ready.contains("http=127.0.0.1:"), "{ready}");
    assert!(dir.path().join("data/meta.redb").is_file());
    assert!(dir.path().join("data/objects").is_dir());
}

#[test]
fn a_shared_backend_that_cannot_be_used_is_refused_with_its_reason() {
    for (sections, reason) in [
        (
            "[metadata]\nbackend = \"postgres\"\nurl = \"postgres://coffer:not-for-the-log@127.0.0.1:1/coffer?connect_timeout=2\"\n",
            "cannot open the postgres metadata store at postgres://coffer:***@127.0.0.1:1/coffer",
        ),
        (
            "[metadata]\nbackend = \"postgres\"\n",
            "needs url (or COFFER_METADATA_URL)",
        ),
        (
            "[blobs]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:1\"\nsecret_key = \"not-for-the-log\"\n",
            "[blobs] backend = \"s3\" needs bucket",
        ),
        (
            "[blobs]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:1\"\nbucket = \"gone\"\naccess_key = \"AK\"\nsecret_key = \"not-for-the-log\"\n",
            "cannot use the s3 blob store (bucket \"gone\" at http://127.0.0.1:1)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), sections);
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("COFFER_LOG", "warn")
            .env_remove("COFFER_METADATA_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "started with {sections}: {stdout}");
        assert!(!stdout.contains("coffer ready"), "{stdout}");
        assert!(stderr.contains(reason), "{stderr}");
        assert!(!stderr.contains("not-for-the-log") && !stdout.contains("not-for-the-log"));
        assert!(
            !dir.path().join("data/meta.redb").exists(),
            "an embedded database was created in its place"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "refusing took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn an_unknown_backend_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[metadata]\nbackend = \"mysql\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid config"), "{stderr}");
    assert!(stderr.contains("mysql"), "{stderr}");
}
