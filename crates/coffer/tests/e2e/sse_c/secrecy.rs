//! Customer keys never reach the disk or the log.

use super::*;

#[tokio::test]
async fn customer_keys_never_reach_the_disk_or_the_log() {
    let mut server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        Some("trace"),
    );
    let c = server.alice();
    c.create_bucket().bucket("scan").send().await.unwrap();
    let keys: Vec<Ck> = (20..25).map(ck).collect();
    let data = pattern(100_000, 41);
    put_c(&c, "scan", "one", &data, &keys[0]).await;
    assert_eq!(get_c(&c, "scan", "one", &keys[0]).await.unwrap(), data);
    assert_eq!(get_c(&c, "scan", "one", &keys[1]).await.unwrap_err().1, 403);
    c.copy_object()
        .bucket("scan")
        .key("one")
        .copy_source("scan/one")
        .source_customer_key(&keys[0])
        .customer_key(&keys[2])
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("scan")
        .key("mp")
        .customer_key(&keys[3])
        .send()
        .await
        .unwrap();
    c.upload_part()
        .bucket("scan")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(data.clone()))
        .customer_key(&keys[3])
        .send()
        .await
        .unwrap();
    // A key header that s3s cannot read as text (a non-ASCII byte after the key) once made
    // it log the whole value at ERROR; so did an Authorization header alike.
    for (header, value) in [
        (
            "x-amz-server-side-encryption-customer-key",
            keys[4].b64.as_bytes(),
        ),
        (
            "x-amz-copy-source-server-side-encryption-customer-key",
            keys[4].b64.as_bytes(),
        ),
    ] {
        let host = server.http.to_string();
        let url = format!("http://{host}/scan/raw");
        let signed = sign(
            "PUT",
            &url,
            &[("host", &host)],
            b"x",
            ALICE.1,
            ALICE.2,
            std::time::SystemTime::now(),
        );
        let mut req = b"PUT /scan/raw HTTP/1.1\r\n".to_vec();
        for (k, v) in &signed {
            req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        req.extend_from_slice(b"x-amz-server-side-encryption-customer-algorithm: AES256\r\n");
        req.extend_from_slice(format!("{header}: ").as_bytes());
        req.extend_from_slice(value);
        req.extend_from_slice(b"\xe9\r\n");
        req.extend_from_slice(
            format!(
                "x-amz-server-side-encryption-customer-key-md5: {}\r\n",
                keys[4].md5
            )
            .as_bytes(),
        );
        req.extend_from_slice(b"content-length: 1\r\nconnection: close\r\n\r\nx");
        let (status, body) = raw_exchange(server.http, &req);
        assert_eq!(status, 400, "{body}");
    }
    let mut req = format!(
        "GET /scan/one HTTP/1.1\r\nhost: {}\r\nauthorization: AWS4-HMAC-SHA256 Credential=",
        server.http
    )
    .into_bytes();
    req.extend_from_slice(keys[4].b64.as_bytes());
    req.extend_from_slice(b"\xe9\r\nconnection: close\r\n\r\n");
    let (status, body) = raw_exchange(server.http, &req);
    assert!((400..500).contains(&status), "{body}");
    server.kill9();

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        needles.push((format!("key {i} raw"), k.raw.to_vec()));
        needles.push((format!("key {i} base64"), k.b64.clone().into_bytes()));
        needles.push((format!("key {i} md5 base64"), k.md5.clone().into_bytes()));
        needles.push((format!("key {i} md5 raw"), md5::Md5::digest(k.raw).to_vec()));
    }
    let mut files = files_under(&server.data_dir());
    files.push(server.log_path());
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was verbose"
    );
    // A log written to a file carries no terminal colour codes.
    assert!(!log.contains('\u{1b}'), "colour codes in a log file");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (what, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} found in {}",
                f.display()
            );
        }
    }
    // The log did record these requests, just not their keys.
    assert!(log.matches("request").count() >= 6, "{log}");
}
