//! Amazon S3's answers where real clients and conformance runs found Coffer differing
//! (issue 13), each with the behaviour S3 has.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectAttributes;

use crate::common::*;

/// S3 refuses a write's encryption headers on GET (400 InvalidArgument) and HEAD (400, no
/// body), whatever the object's mode. Real S3's answer: "x-amz-server-side-encryption header
/// is not supported for this operation."
#[tokio::test]
async fn reads_refuse_write_encryption_headers() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("fid").send().await.unwrap();
    c.put_object()
        .bucket("fid")
        .key("o")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    for (name, value) in [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "alias/x"),
        ("x-amz-server-side-encryption-context", "e30="),
        ("x-amz-server-side-encryption-bucket-key-enabled", "true"),
    ] {
        let (status, body) = signed_raw(&server, "GET", "/fid/o", &[(name, value)], b"");
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
        assert!(
            body.contains(&format!(
                "{name} header is not supported for this operation."
            )),
            "{body}"
        );
        let (status, body) = signed_raw(&server, "HEAD", "/fid/o", &[(name, value)], b"");
        assert_eq!(status, 400, "{name}: {body}");
        assert!(
            !body.contains("<Error>"),
            "a HEAD answer has no body: {body}"
        );
    }
    // Without them, the same reads work.
    let (status, body) = signed_raw(&server, "GET", "/fid/o", &[], b"");
    assert_eq!(status, 200, "{body}");
}

/// A part number outside 1..=10000 is a bad request; one past the object's last part stays
/// S3's 416.
#[tokio::test]
async fn part_numbers_outside_s3s_range_are_invalid_arguments() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("fid").send().await.unwrap();
    c.put_object()
        .bucket("fid")
        .key("o")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    for n in [0, -1, 10_001] {
        let e = c
            .get_object()
            .bucket("fid")
            .key("o")
            .part_number(n)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400), "{n}");
    }
    let e = c
        .get_object()
        .bucket("fid")
        .key("o")
        .part_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidPartNumber".into()), 416));
}

/// An empty Content-MD5 is S3's 400 InvalidDigest, not an unchecked body.
#[tokio::test]
async fn an_empty_content_md5_is_an_invalid_digest() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("fid").send().await.unwrap();
    let (status, body) = signed_raw(&server, "PUT", "/fid/o", &[("content-md5", "")], b"data");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidDigest</Code>"), "{body}");
    let e = c
        .head_object()
        .bucket("fid")
        .key("o")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
}

/// GetObjectAttributes answers every attribute asked for, SSE-C objects included, with the
/// ETag unquoted as S3 sends it there.
#[tokio::test]
async fn object_attributes_of_an_sse_c_object() {
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let c = server.alice();
    c.create_bucket().bucket("fid").send().await.unwrap();
    let Ck { b64: key, md5, .. } = ck(3);
    c.put_object()
        .bucket("fid")
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from(pattern(5000, 1)))
        .send()
        .await
        .unwrap();
    let out = c
        .get_object_attributes()
        .bucket("fid")
        .key("c")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::StorageClass)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(5000));
    let etag = out.e_tag().unwrap();
    assert!(!etag.contains('"'), "{etag}");
    assert_eq!(etag.len(), 32, "{etag}");
    assert_eq!(out.storage_class().map(|s| s.as_str()), Some("STANDARD"));
}

/// A PUT refused before its body is read reaches a client that sends the body at once (no
/// `Expect: 100-continue`), as S3's answer does, instead of a reset that loses it.
#[tokio::test]
async fn early_refusals_reach_clients_that_do_not_wait_for_continue() {
    let server = Server::start();
    for round in 0..10 {
        let host = server.http.to_string();
        let url = format!("http://{host}/no-such-bucket/k{round}");
        let body = vec![7u8; 8 << 20];
        let signed = sign(
            "PUT",
            &url,
            &[("host", &host)],
            &body,
            ALICE.1,
            ALICE.2,
            std::time::SystemTime::now(),
        );
        let mut head = format!("PUT /no-such-bucket/k{round} HTTP/1.1\r\n");
        for (k, v) in &signed {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut stream = std::net::TcpStream::connect(server.http).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        // As a simple client does: send everything, then read the answer.
        {
            use std::io::Write as _;
            let sent = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(&body));
            assert!(
                sent.is_ok(),
                "round {round}: the body could not be sent: {sent:?}"
            );
        }
        // Read the status line and headers of the answer.
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match std::io::Read::read(&mut stream, &mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) => panic!("round {round}: the answer was lost: {e}"),
            }
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 404"), "round {round}: {text}");
    }
}

/// A HEAD that ends in an error has no body over HTTP/2 either (clients otherwise fail with
/// "received DATA on a HEAD request").
#[tokio::test]
async fn head_errors_have_no_body_over_http2() {
    use http_body_util::BodyExt as _;
    let server = Server::start();
    let tcp = tokio::net::TcpStream::connect(server.http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for path in ["/no-such-bucket/key", "/no-such-bucket"] {
        let req = http::Request::head(format!("http://{}{path}", server.http))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
        let body = resp.into_body().collect().await;
        let body = body.unwrap_or_else(|e| panic!("{path}: {e}")).to_bytes();
        assert!(body.is_empty(), "{path}: {body:?}");
    }
}

/// Every S3 error body names the request (`<RequestId>`, the `x-amz-request-id` header) and
/// the host (`<HostId>`, the `x-amz-id-2` header), as Amazon S3's do.
#[tokio::test]
async fn error_bodies_carry_the_request_and_host_ids() {
    let server = Server::start();
    for (method, path, signed) in [
        ("GET", "/no-such-bucket/key", true),
        ("GET", "/no-such-bucket/key", false),
        ("PUT", "/BAD_NAME", true),
    ] {
        let (status, text) = if signed {
            signed_raw(&server, method, path, &[], b"")
        } else {
            raw_exchange(
                server.http,
                format!(
                    "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
                    server.http
                )
                .as_bytes(),
            )
        };
        assert!(status >= 400, "{text}");
        let header = |name: &str| {
            text.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let (id, host) = (header("x-amz-request-id"), header("x-amz-id-2"));
        assert!(
            text.contains(&format!("<RequestId>{id}</RequestId>")),
            "{text}"
        );
        assert!(text.contains(&format!("<HostId>{host}</HostId>")), "{text}");
    }
}
