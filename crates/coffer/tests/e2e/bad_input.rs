//! Malformed and hostile input gets Amazon's error, and the server keeps serving.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

async fn still_serving(server: &Server) {
    server
        .alice()
        .list_buckets()
        .send()
        .await
        .expect("server still answers");
}

#[tokio::test]
async fn malformed_xml_bodies_are_malformed_xml() {
    let server = Server::start();
    server
        .alice()
        .create_bucket()
        .bucket("bad")
        .send()
        .await
        .unwrap();
    for body in [
        &b"<Delete><Object><Key>a</Key>"[..],
        b"not xml at all",
        b"<Delete><Object><Key>a</Key></Object></Wrong>",
    ] {
        let md5 = {
            use base64::Engine as _;
            use md5::Digest;
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
        };
        let (status, text) = signed_raw(
            &server,
            "POST",
            "/bad?delete",
            &[("content-md5", &md5)],
            body,
        );
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("<Code>MalformedXML</Code>"), "{text}");
    }
    let created = server
        .alice()
        .create_multipart_upload()
        .bucket("bad")
        .key("k")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap();
    let (status, text) = signed_raw(
        &server,
        "POST",
        &format!("/bad/k?uploadId={id}"),
        &[],
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber>",
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>MalformedXML</Code>"), "{text}");
    still_serving(&server).await;
}

#[tokio::test]
async fn bad_headers_and_keys() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("bad").send().await.unwrap();

    let (status, text) = signed_raw(
        &server,
        "PUT",
        "/bad/k",
        &[("x-amz-checksum-crc32", "!!notbase64!!")],
        b"data",
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>InvalidRequest</Code>"), "{text}");

    let long_key = "k".repeat(1025);
    let e = c
        .put_object()
        .bucket("bad")
        .key(&long_key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("KeyTooLongError".into()), 400));

    c.put_object()
        .bucket("bad")
        .key("k")
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .unwrap();
    let e = c
        .get_object()
        .bucket("bad")
        .key("k")
        .range("bytes=0-1")
        .part_number(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 400);

    // A header section far beyond any real client's is refused without harm.
    let huge = "a".repeat(256 * 1024);
    let (status, _) = raw_exchange(
        server.http,
        format!("GET /bad HTTP/1.1\r\nhost: h\r\nx-big: {huge}\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert!((400..500).contains(&status), "status {status}");
    let (status, _) = raw_exchange(server.http, b"NONSENSE\r\n\r\n");
    assert!(status == 400 || status == 0, "status {status}");
    still_serving(&server).await;
}

#[tokio::test]
async fn truncated_bodies_store_nothing() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("bad").send().await.unwrap();
    // Declares 1000 bytes, sends 10, then closes: the signature covers an unsigned payload.
    let host = server.http.to_string();
    let url = format!("http://{host}/bad/partial");
    let signed = sign(
        "PUT",
        &url,
        &[("host", host.as_str()), ("content-length", "1000")],
        b"",
        ALICE.1,
        ALICE.2,
        std::time::SystemTime::now(),
    );
    let mut req = "PUT /bad/partial HTTP/1.1\r\n".to_owned();
    for (k, v) in &signed {
        let v = if k == "x-amz-content-sha256" {
            "UNSIGNED-PAYLOAD"
        } else {
            v.as_str()
        };
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n0123456789");
    let _ = raw_exchange(server.http, req.as_bytes());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let e = c
        .head_object()
        .bucket("bad")
        .key("partial")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
    assert!(files_under(&server.data_dir().join("objects/tmp")).is_empty());
    assert!(files_under(&server.data_dir().join("objects/blobs")).is_empty());
    still_serving(&server).await;
}
