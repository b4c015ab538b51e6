//! The data directory is its owner's alone: 0700 directories and 0600 files whatever the
//! umask, and a directory an earlier version left open is tightened at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::common::*;

/// Every entry under `root` (and `root` itself) with its permission bits.
fn modes(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), meta.permissions().mode() & 0o7777, meta.is_dir()));
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                stack.push(e.path());
            }
        }
    }
    out
}

fn assert_owner_only(root: &Path) {
    let wrong: Vec<_> = modes(root)
        .into_iter()
        .filter(|(_, mode, is_dir)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(wrong.is_empty(), "not owner-only: {wrong:#?}");
}

/// Writes what each store under the data directory holds: blobs, an SSE-KMS object (a KMS
/// key and audit records), and an unfinished multipart upload.
async fn fill(server: &Server) {
    let c = server.alice();
    c.create_bucket().bucket("perm").send().await.unwrap();
    c.put_object()
        .bucket("perm")
        .key("s3")
        .body(ByteStream::from(pattern(100_000, 3)))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("perm")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(pattern(1000, 4)))
        .send()
        .await
        .unwrap();
    c.create_multipart_upload()
        .bucket("perm")
        .key("mp")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn under_umask_000_every_directory_is_0700_and_every_file_0600() {
    if embedded_only("checks the modes of the embedded store's files") {
        return;
    }
    let server = Server::start_after_shell(Some("umask 000"), "", &[], None);
    fill(&server).await;
    let data = server.data_dir();
    for expected in ["meta.redb", "root.key", "tls/key.pem", "tls/cert.pem"] {
        assert!(data.join(expected).exists(), "{expected} missing");
    }
    assert!(!files_under(&data.join("objects/blobs")).is_empty());
    assert!(!files_under(&data.join("audit")).is_empty());
    assert_owner_only(&data);
}

#[tokio::test]
async fn a_data_directory_left_readable_by_an_earlier_version_is_tightened_at_start() {
    if embedded_only("checks the modes of the embedded store's files") {
        return;
    }
    let mut server = Server::start_configured("", &[], Some("warn"));
    fill(&server).await;
    server.kill9();

    // What an earlier version left: 0755 directories, 0644 files (root.key included).
    let data = server.data_dir();
    let entries = modes(&data);
    for (p, _, is_dir) in &entries {
        let mode = if *is_dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    server.restart();
    assert_owner_only(&data);
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("took group and other permissions away"))
        .unwrap_or_else(|| panic!("no line says the directory was tightened: {log}"));
    // The log is coloured: drop the escape sequences before matching a field.
    let plain: String = line
        .split('\x1b')
        .map(|part| match part.find('m') {
            Some(i) if part.starts_with('[') => &part[i + 1..],
            _ => part,
        })
        .collect();
    assert!(
        plain.contains(&format!("entries={}", entries.len())),
        "{line} (expected {} entries)",
        entries.len()
    );
    // Nothing was lost on the way.
    let got = server
        .alice()
        .get_object()
        .bucket("perm")
        .key("s3")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, pattern(100_000, 3));
}
