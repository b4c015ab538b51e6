//! `coffer admin|kms|audit` find the running server from the data directory alone, whatever
//! addresses it was started on: the server records them in `<data>/listening.json`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `coffer serve --data-dir <dir>` with `listen` flags, its ready line awaited; users are
/// generated into the data directory, as on a first start with no configuration.
fn serve(data: &Path, listen: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(listen)
        .env("COFFER_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let ready = loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "coffer exited");
        if line.starts_with("coffer ready ") {
            break line.trim_end().to_owned();
        }
    };
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (child, ready)
}

/// Runs `coffer <args> --data-dir <dir>`: success and all output.
fn operator(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("COFFER_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn terminate(mut child: Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn operator_commands_reach_a_server_on_any_port_with_only_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Ephemeral ports: nothing but the server knows them.
    let (server, ready) = serve(&data, &["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"]);
    let record = data.join("listening.json");
    let mode = std::fs::metadata(&record).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&record).unwrap();
    let http = ready
        .split_whitespace()
        .find_map(|f| f.strip_prefix("http="))
        .unwrap();
    assert!(text.contains(http), "{text} lacks {http}");

    let (ok, out) = operator(&data, &["admin", "rotate-master-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("master key is now version 2"), "{out}");
    let (ok, out) = operator(&data, &["kms", "list-keys", "--json"]);
    assert!(ok, "{out}");
    let (ok, out) = operator(&data, &["audit", "verify"]);
    assert!(ok, "{out}");

    // A clean shutdown removes the record; the commands then open the directory themselves.
    terminate(server);
    assert!(!record.exists());
    let (ok, out) = operator(&data, &["admin", "rotate-master-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("master key is now version 3"), "{out}");
}

#[test]
fn operator_commands_reach_an_https_only_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (server, _) = serve(&data, &["--http", "", "--https", "127.0.0.1:0"]);
    let (ok, out) = operator(&data, &["admin", "rotate-master-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("master key is now version 2"), "{out}");
    let (ok, out) = operator(&data, &["kms", "list-keys"]);
    assert!(ok, "{out}");
    terminate(server);
}
