//! Browser POST as S3 answers it: `${filename}` in the key, the `acl` field, and a form its
//! policy does not allow is 403 AccessDenied with S3's "Invalid according to Policy" words.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>

use base64::Engine as _;
use ring::hmac;

use crate::common::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

fn iso(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A form signed by alice whose policy has `conditions` (JSON, comma-separated) besides the
/// signing fields, expiring `expires_in` seconds from now; `fields` are sent as given.
fn signed_form(
    expires_in: i64,
    conditions: &str,
    fields: &[(&str, &str)],
) -> Vec<(String, String)> {
    let t = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let stamp = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    let credential = format!("{}/{date}/us-east-1/s3/aws4_request", ALICE.1);
    let policy = format!(
        r#"{{"expiration":"{}","conditions":[{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{stamp}"}},{conditions}]}}"#,
        iso(t + time::Duration::seconds(expires_in))
    );
    let policy_b64 = B64.encode(policy);
    let mut key = hmac256(format!("AWS4{}", ALICE.2).as_bytes(), date.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac256(&key, policy_b64.as_bytes()));
    let mut out: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend([
        ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("x-amz-credential".into(), credential),
        ("x-amz-date".into(), stamp),
        ("policy".into(), policy_b64),
        ("x-amz-signature".into(), signature),
    ]);
    out
}

fn post(
    server: &Server,
    bucket: &str,
    fields: &[(String, String)],
    file_name: &str,
) -> (u16, String) {
    let boundary = "PolicyBoundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: image/jpeg\r\n\r\nfile body\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let mut req = format!(
        "POST /{bucket} HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.http,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    raw_exchange(server.http, &req)
}

async fn exists(c: &aws_sdk_s3::Client, key: &str) -> bool {
    c.head_object()
        .bucket("forms")
        .key(key)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn post_key_takes_the_uploaded_file_name() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let form = signed_form(
        600,
        r#"{"bucket":"forms"},["starts-with","$key","user/betty/"]"#,
        &[("key", "user/betty/${filename}")],
    );
    let (status, body) = post(&server, "forms", &form, "lolcatz.jpg");
    assert_eq!(status, 204, "{body}");
    let got = c
        .get_object()
        .bucket("forms")
        .key("user/betty/lolcatz.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"file body");
    assert!(!exists(&c, "user/betty/${filename}").await);
}

#[tokio::test]
async fn post_refused_by_its_policy_is_access_denied() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();

    // A condition the form does not meet: S3 quotes it.
    let form = signed_form(
        600,
        r#"{"bucket":"forms"},["starts-with","$key","uploads/"]"#,
        &[("key", "elsewhere/x")],
    );
    let (status, body) = post(&server, "forms", &form, "x");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(
        body.contains(
            "Invalid according to Policy: Policy Condition failed: [&quot;starts-with&quot;, &quot;$key&quot;, &quot;uploads/&quot;]"
        ) || body.contains(
            r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]"#
        ),
        "{body}"
    );
    assert!(!exists(&c, "elsewhere/x").await);

    let form = signed_form(
        600,
        r#"{"bucket":"forms"},["starts-with","$key",""],{"acl":"bucket-owner-full-control"}"#,
        &[("key", "acl-mismatch"), ("acl", "private")],
    );
    let (status, body) = post(&server, "forms", &form, "x");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Policy Condition failed"), "{body}");
    assert!(body.contains("$acl"), "{body}");

    // A field no condition names.
    let form = signed_form(
        600,
        r#"{"bucket":"forms"},["starts-with","$key",""]"#,
        &[("key", "extra"), ("content-type", "image/jpeg")],
    );
    let (status, body) = post(&server, "forms", &form, "x");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("Invalid according to Policy: Extra input fields: content-type"),
        "{body}"
    );

    // An expired policy.
    let form = signed_form(
        -60,
        r#"{"bucket":"forms"},["starts-with","$key",""]"#,
        &[("key", "late")],
    );
    let (status, body) = post(&server, "forms", &form, "x");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(
        body.contains("Invalid according to Policy: Policy expired."),
        "{body}"
    );
    for key in ["acl-mismatch", "extra", "late"] {
        assert!(!exists(&c, key).await, "{key}");
    }
}

/// The `acl` form field: only ACLs that give the bucket owner full control are accepted on a
/// bucket whose ACLs are disabled.
#[tokio::test]
async fn post_acl_field_follows_bucket_owner_enforced() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    for acl in ["bucket-owner-full-control", "private"] {
        let form = signed_form(
            600,
            &format!(r#"{{"bucket":"forms"}},["starts-with","$key",""],{{"acl":"{acl}"}}"#),
            &[("key", acl), ("acl", acl)],
        );
        let (status, body) = post(&server, "forms", &form, "x");
        assert_eq!(status, 204, "{acl}: {body}");
        assert!(exists(&c, acl).await);
    }
    let form = signed_form(
        600,
        r#"{"bucket":"forms"},["starts-with","$key",""],{"acl":"public-read"}"#,
        &[("key", "public"), ("acl", "public-read")],
    );
    let (status, body) = post(&server, "forms", &form, "x");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>AccessControlListNotSupported</Code>"),
        "{body}"
    );
    assert!(!exists(&c, "public").await);
}
