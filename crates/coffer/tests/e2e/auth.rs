use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test]
async fn signatures_and_keys_are_checked() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("sig").send().await.unwrap();

    let wrong_secret = client_for(&server.endpoint(), ALICE.1, "not-the-secret");
    let e = wrong_secret.list_buckets().send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("SignatureDoesNotMatch".into()), 403));
    let unknown = client_for(&server.endpoint(), "AKIAUNKNOWN000000000", "whatever");
    let e = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidAccessKeyId".into()), 403));

    let (status, body) = raw_exchange(
        server.http,
        b"GET /sig HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(status, 403, "anonymous requests are refused: {body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // Signature Version 2 in a header is refused, as in every AWS region opened since 2014.
    let (status, body) = raw_exchange(
        server.http,
        format!(
            "GET /sig HTTP/1.1\r\nhost: {}\r\ndate: {}\r\nauthorization: AWS {}:bm90LWEtc2ln\r\nconnection: close\r\n\r\n",
            server.http,
            httpdate_now(),
            ALICE.1
        )
        .as_bytes(),
    );
    assert!(status == 400 || status == 403, "{body}");
    assert!(!body.contains("<ListBucketResult"), "{body}");
}

fn httpdate_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc2822)
        .unwrap()
}

#[tokio::test]
async fn presigned_urls_carry_the_signers_rights_and_expire() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("pre").send().await.unwrap();
    c.put_object()
        .bucket("pre")
        .key("doc.txt")
        .body(ByteStream::from_static(b"presigned body"))
        .send()
        .await
        .unwrap();

    let ok = c
        .get_object()
        .bucket("pre")
        .key("doc.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let (status, body) = http_get(ok.uri());
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("presigned body"));

    let expired = c
        .get_object()
        .bucket("pre")
        .key("doc.txt")
        .presigned(
            PresigningConfig::builder()
                .start_time(SystemTime::now() - Duration::from_secs(3600))
                .expires_in(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let (status, body) = http_get(expired.uri());
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // Bob's URL for alice's object carries bob's rights: none.
    let bobs = server
        .client(BOB)
        .get_object()
        .bucket("pre")
        .key("doc.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let (status, _) = http_get(bobs.uri());
    assert_eq!(status, 403);

    // S3 refuses a presigned URL that asks to live longer than seven days, however well
    // signed; the SDK will not make one, so it is signed here directly.
    for (secs, ok) in [(604_800u64, true), (604_801, false), (315_360_000, false)] {
        let url = presign_get(&format!("{}/pre/doc.txt", server.endpoint()), secs);
        let (status, body) = http_get(&url);
        if ok {
            assert_eq!(status, 200, "{secs}: {body}");
        } else {
            assert_eq!(status, 400, "{secs}: {body}");
            assert!(
                body.contains("<Code>AuthorizationQueryParametersError</Code>"),
                "{body}"
            );
            assert!(body.contains("604800"), "{body}");
        }
    }

    // A tampered URL fails its signature.
    let tampered = ok.uri().replace("doc.txt", "doc.txu");
    let (status, body) = http_get(&tampered);
    assert_eq!(status, 403);
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");

    // Presigned PUT.
    let put = c
        .put_object()
        .bucket("pre")
        .key("uploaded")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri = put.uri().strip_prefix("http://").unwrap();
    let path = &uri[uri.find('/').unwrap()..];
    let req = format!(
        "PUT {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        server.http
    );
    let (status, body) = raw_exchange(server.http, req.as_bytes());
    assert_eq!(status, 200, "{body}");
    let got = c
        .get_object()
        .bucket("pre")
        .key("uploaded")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"hello");
}

#[tokio::test]
async fn virtual_hosted_style_addressing() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("vhost").send().await.unwrap();
    c.put_object()
        .bucket("vhost")
        .key("k/v")
        .body(ByteStream::from_static(b"virtual"))
        .send()
        .await
        .unwrap();

    let host = format!("vhost.localhost:{}", server.http.port());
    let url = format!("http://{host}/k/v");
    let signed = sign(
        "GET",
        &url,
        &[("host", host.as_str())],
        b"",
        ALICE.1,
        ALICE.2,
        SystemTime::now(),
    );
    let mut req = "GET /k/v HTTP/1.1\r\n".to_owned();
    for (k, v) in &signed {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("connection: close\r\n\r\n");
    let (status, body) = raw_exchange(server.http, req.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("virtual"));
}

#[tokio::test]
async fn stale_signatures_wrong_regions_and_payload_hashes_are_refused() {
    let server = Server::start();
    server
        .alice()
        .create_bucket()
        .bucket("sig")
        .send()
        .await
        .unwrap();

    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let (status, body) = signed_raw_at(&server, "GET", "/sig", &[], b"", an_hour_ago);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>RequestTimeTooSkewed</Code>"), "{body}");

    let west = client_in_region(&server.endpoint(), ALICE.1, ALICE.2, "us-west-2");
    let e = west
        .list_objects_v2()
        .bucket("sig")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        (Some("AuthorizationHeaderMalformed".into()), 400)
    );

    // The signed payload hash covers "good"; the body says otherwise.
    let host = server.http.to_string();
    let url = format!("http://{host}/sig/k");
    let signed = sign(
        "PUT",
        &url,
        &[("host", host.as_str())],
        b"good",
        ALICE.1,
        ALICE.2,
        SystemTime::now(),
    );
    let mut req = "PUT /sig/k HTTP/1.1\r\n".to_owned();
    for (k, v) in &signed {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("content-length: 4\r\nconnection: close\r\n\r\nevil");
    let (status, body) = raw_exchange(server.http, req.as_bytes());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("XAmzContentSHA256Mismatch"), "{body}");
    let e = server
        .alice()
        .head_object()
        .bucket("sig")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
}

/// A presigned GET for `url` (alice's keys) that says it lives `expires_secs` seconds.
fn presign_get(url: &str, expires_secs: u64) -> String {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
    let identity =
        aws_credential_types::Credentials::new(ALICE.1, ALICE.2, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires_secs));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let host = url.split('/').nth(2).unwrap().to_owned();
    let signable = SignableRequest::new(
        "GET",
        url,
        [("host", host.as_str())].into_iter(),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let query: Vec<String> = instructions
        .params()
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    format!("{url}?{}", query.join("&"))
}
