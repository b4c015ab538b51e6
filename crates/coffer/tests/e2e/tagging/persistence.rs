//! Tags across a restart and on browser POST uploads.

use super::*;

#[tokio::test]
async fn tags_survive_a_restart() {
    let mut server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("durable").send().await.unwrap();
    put_tagged(&c, "durable", "k", Some("color=teal&size=xl")).await;
    c.put_bucket_tagging()
        .bucket("durable")
        .tagging(tagging(&[("env", "prod")]))
        .send()
        .await
        .unwrap();
    server.restart();
    let c = server.alice();
    assert_eq!(
        tags_of(&c, "durable", "k").await,
        pairs(&[("color", "teal"), ("size", "xl")])
    );
    let head = c
        .head_object()
        .bucket("durable")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), Some(2));
    let got = c
        .get_bucket_tagging()
        .bucket("durable")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_set()[0].key(), "env");
    assert_eq!(got.tag_set()[0].value(), "prod");
}

/// A browser POST's `tagging` field holds a `Tagging` document (ceph s3-tests
/// `test_post_object_tags_authenticated_request`).
#[tokio::test]
async fn a_browser_post_tags_its_object() {
    use ring::hmac;
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let xml = "<Tagging><TagSet><Tag><Key>0</Key><Value>0</Value></Tag><Tag><Key>1</Key><Value>1</Value></Tag></TagSet></Tagging>";

    let t = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let stamp = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    let exp = t + time::Duration::minutes(10);
    let expiration = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        exp.year(),
        u8::from(exp.month()),
        exp.day(),
        exp.hour(),
        exp.minute(),
        exp.second()
    );
    let credential = format!("{}/{date}/us-east-1/s3/aws4_request", ALICE.1);
    let policy = format!(
        r#"{{"expiration":"{expiration}","conditions":[{{"bucket":"forms"}},["starts-with","$key","up/"],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{stamp}"}},["starts-with","$tagging",""]]}}"#
    );
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy);
    let sign = |key: &[u8], msg: &[u8]| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
            .as_ref()
            .to_vec()
    };
    let mut key = sign(format!("AWS4{}", ALICE.2).as_bytes(), date.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = sign(&key, part.as_bytes());
    }
    let signature = hex::encode(sign(&key, policy_b64.as_bytes()));
    let fields = [
        ("key", "up/tagged.txt"),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", credential.as_str()),
        ("x-amz-date", stamp.as_str()),
        ("tagging", xml),
        ("policy", policy_b64.as_str()),
        ("x-amz-signature", signature.as_str()),
    ];
    let boundary = "TagBoundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.txt\"\r\nContent-Type: text/plain\r\n\r\nbar\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let mut req = format!(
        "POST /forms HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.http,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (status, text) = raw_exchange(server.http, &req);
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        tags_of(&c, "forms", "up/tagged.txt").await,
        pairs(&[("0", "0"), ("1", "1")])
    );
    let got = c
        .get_object()
        .bucket("forms")
        .key("up/tagged.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_count(), Some(2));
    assert_eq!(body_bytes(got).await, b"bar");
}
