//! Browser POST uploads: a signed policy in a multipart form.

use base64::Engine as _;
use ring::hmac;

use crate::common::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn amz_now() -> (String, String) {
    let t = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let stamp = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (date, stamp)
}

fn expiration(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
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

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

fn form(boundary: &str, fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        // Some browsers and libraries send plain fields as file parts (with a filename);
        // the key field here always arrives that way.
        let filename = if *k == "key" {
            "; filename=\"blob\""
        } else {
            ""
        };
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"{filename}\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn post(server: &Server, bucket: &str, boundary: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!(
        "POST /{bucket} HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.http,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw_exchange(server.http, &req)
}

fn v4_fields(expires_in: i64, secret: &str) -> Vec<(String, String)> {
    v4_fields_with(expires_in, secret, &[])
}

/// A signed SigV4 form, with `extra` fields that its policy also names.
fn v4_fields_with(expires_in: i64, secret: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    signed_form(expires_in, secret, extra, (0, 1048576))
}

/// A signed SigV4 form whose policy allows files of `min..=max` bytes.
fn v4_fields_sized(expires_in: i64, secret: &str, min: u64, max: u64) -> Vec<(String, String)> {
    signed_form(expires_in, secret, &[], (min, max))
}

fn signed_form(
    expires_in: i64,
    secret: &str,
    extra: &[(&str, &str)],
    (min, max): (u64, u64),
) -> Vec<(String, String)> {
    let (date, stamp) = amz_now();
    let credential = format!("{}/{date}/us-east-1/s3/aws4_request", ALICE.1);
    let extra_conditions: String = extra
        .iter()
        .map(|(k, v)| format!(r#",{{"{k}":"{v}"}}"#))
        .collect();
    let policy = format!(
        r#"{{"expiration":"{}","conditions":[{{"bucket":"forms"}},["starts-with","$key","uploads/"],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{stamp}"}},["content-length-range",{min},{max}]{extra_conditions}]}}"#,
        expiration(expires_in)
    );
    let policy_b64 = B64.encode(policy);
    let mut key = hmac256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac256(&key, policy_b64.as_bytes()));
    vec![
        ("key".into(), "uploads/photo.jpg".into()),
        ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("x-amz-credential".into(), credential),
        ("x-amz-date".into(), stamp),
        ("policy".into(), policy_b64),
        ("x-amz-signature".into(), signature),
    ]
    .into_iter()
    .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    .collect()
}

#[tokio::test]
async fn post_upload_with_sigv4_policy() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let data = pattern(70_000, 4);

    let fields = v4_fields(600, ALICE.2);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = post(
        &server,
        "forms",
        "XyZbOuNdArY",
        &form("XyZbOuNdArY", &refs, "photo.jpg", &data),
    );
    assert_eq!(status, 204, "{body}");
    let got = c
        .get_object()
        .bucket("forms")
        .key("uploads/photo.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    assert_eq!(body_bytes(got).await, data);

    let bad = v4_fields(600, "wrong-secret");
    let refs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body) = post(&server, "forms", "b1", &form("b1", &refs, "x.bin", b"x"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");

    let expired = v4_fields(-60, ALICE.2);
    let refs: Vec<(&str, &str)> = expired
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = post(&server, "forms", "b2", &form("b2", &refs, "x.bin", b"x"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");

    // The policy confines keys to uploads/.
    let mut outside = v4_fields(600, ALICE.2);
    outside[0].1 = "elsewhere/photo.jpg".into();
    let refs: Vec<(&str, &str)> = outside
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = post(&server, "forms", "b3", &form("b3", &refs, "x.bin", b"x"));
    // S3 answers 403 AccessDenied here; s3s answers 400 InvalidPolicyDocument. Either way
    // nothing may be stored.
    assert!(status == 403 || status == 400, "{body}");
    assert!(
        c.head_object()
            .bucket("forms")
            .key("elsewhere/photo.jpg")
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn post_upload_with_sigv2_policy() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let policy = format!(
        r#"{{"expiration":"{}","conditions":[{{"bucket":"forms"}},["starts-with","$key",""]]}}"#,
        expiration(600)
    );
    let policy_b64 = B64.encode(policy);
    let signature = B64.encode(
        hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, ALICE.2.as_bytes()),
            policy_b64.as_bytes(),
        )
        .as_ref(),
    );
    let fields = [
        ("key", "v2-object"),
        ("AWSAccessKeyId", ALICE.1),
        ("policy", policy_b64.as_str()),
        ("signature", signature.as_str()),
    ];
    let (status, body) = post(
        &server,
        "forms",
        "v2b",
        &form("v2b", &fields, "f", b"signed with v2"),
    );
    assert_eq!(status, 204, "{body}");
    let got = c
        .get_object()
        .bucket("forms")
        .key("v2-object")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"signed with v2");
}

#[tokio::test]
async fn post_upload_with_sse_c_fields() {
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let raw = [0x5au8; 32];
    let key = B64.encode(raw);
    let md5 = {
        use md5::Digest as _;
        B64.encode(md5::Md5::digest(raw))
    };
    let fields = v4_fields_with(
        600,
        ALICE.2,
        &[
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-server-side-encryption-customer-key", &key),
            ("x-amz-server-side-encryption-customer-key-MD5", &md5),
        ],
    );
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let data = pattern(90_000, 5);
    let (status, body) = post(&server, "forms", "sseC", &form("sseC", &refs, "f", &data));
    assert_eq!(status, 204, "{body}");

    // Stored as SSE-C: unreadable without the key, readable with it.
    let e = c
        .get_object()
        .bucket("forms")
        .key("uploads/photo.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let got = c
        .get_object()
        .bucket("forms")
        .key("uploads/photo.jpg")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_ne!(
        got.e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    assert_eq!(body_bytes(got).await, data);
}

/// Sends a form whose file part is `file_len` bytes of zeros, streamed in 1 MiB writes, and
/// reads the answer while still sending. Returns the status (0 if the connection was reset
/// before an answer could be read), the answer, and how many file bytes were sent.
fn post_streamed(
    server: &Server,
    bucket: &str,
    fields: &[(&str, &str)],
    file_len: usize,
) -> (u16, String, usize) {
    let boundary = "StreamedBoundary";
    let head = form(boundary, fields, "big.bin", b"");
    // `form` ends the file part and the form; keep only what comes before the file's bytes.
    let tail = format!("\r\n--{boundary}--\r\n");
    let head = &head[..head.len() - tail.len()];
    let total = head.len() + file_len + tail.len();
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let mut request = format!(
        "POST /{bucket} HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n",
        server.http
    )
    .into_bytes();
    request.extend_from_slice(head);
    use std::io::Write as _;
    let mut sent = 0;
    if stream.write_all(&request).is_ok() {
        let chunk = vec![0u8; 1 << 20];
        while sent < file_len {
            let n = chunk.len().min(file_len - sent);
            if stream.write_all(&chunk[..n]).is_err() {
                break;
            }
            sent += n;
        }
        if sent == file_len {
            let _ = stream.write_all(tail.as_bytes());
        }
    }
    let text = answer.join().unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text, sent)
}

/// The review's finding: an unsigned form was read whole into memory before any check, so
/// one 500 MiB form took the server from 12 to 513 MiB. Now it is refused before its file is
/// read: the server stops reading, and its peak memory does not grow with the file.
#[tokio::test]
async fn unsigned_post_is_refused_before_its_file_is_read() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let before = server.proc_status_kib("VmHWM");

    let file_len = 512 << 20;
    let (status, text, sent) =
        post_streamed(&server, "forms", &[("key", "unsigned.bin")], file_len);
    // The answer may be lost to the reset that ends the connection; when it arrives it is
    // S3's refusal of an anonymous request.
    assert!(status == 403 || status == 0, "{text}");
    if status == 403 {
        assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    }
    assert!(sent < file_len, "the server read the whole unsigned file");
    let grown = server.proc_status_kib("VmHWM").saturating_sub(before);
    assert!(grown < 64 * 1024, "peak memory grew by {grown} KiB");
    let e = c
        .head_object()
        .bucket("forms")
        .key("unsigned.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
}

/// A signed form's file goes through the sealing path as a stream: a 96 MiB upload costs
/// the server far less than its size, and the policy's size range is enforced as the bytes
/// arrive (too large: EntityTooLarge, nothing stored).
#[tokio::test]
async fn signed_post_streams_its_file_in_constant_memory() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let before = server.proc_status_kib("VmHWM");

    let file_len = 96 << 20;
    let fields = v4_fields_sized(600, ALICE.2, 0, 128 << 20);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, text, sent) = post_streamed(&server, "forms", &refs, file_len);
    assert_eq!((status, sent), (204, file_len), "{text}");
    let grown = server.proc_status_kib("VmHWM").saturating_sub(before);
    // Files take about 11 MiB here. An object store takes the sealed bytes as multipart
    // parts of 8 MiB, two in flight and one filling, each copied on its way out by the
    // HTTP client: about 45 MiB alone, and up to 55 under a loaded CI. Both stay well
    // under the 96 MiB a form read whole would cost.
    let budget = if crate::backends::shared_backends() {
        72
    } else {
        48
    };
    assert!(
        grown < budget * 1024,
        "peak memory grew by {grown} KiB for a 96 MiB form"
    );
    let head = c
        .head_object()
        .bucket("forms")
        .key("uploads/photo.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(file_len as i64));
    let zeros_md5 = md5_hex(&vec![0u8; file_len]);
    assert_eq!(head.e_tag(), Some(format!("\"{zeros_md5}\"").as_str()));

    // Past the policy's maximum: refused mid-stream, nothing stored.
    let small = v4_fields_sized(600, ALICE.2, 0, 1 << 20);
    let refs: Vec<(&str, &str)> = small
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.delete_object()
        .bucket("forms")
        .key("uploads/photo.jpg")
        .send()
        .await
        .unwrap();
    // The refusal comes as the limit is passed; what follows is drained unread (bounded), so
    // the client sees the answer.
    let (status, text, _) = post_streamed(&server, "forms", &refs, 16 << 20);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>EntityTooLarge</Code>"), "{text}");
    // Under the policy's minimum: EntityTooSmall once the file has ended.
    let at_least = v4_fields_sized(600, ALICE.2, 1000, 2000);
    let refs: Vec<(&str, &str)> = at_least
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, text) = post(
        &server,
        "forms",
        "tiny",
        &form("tiny", &refs, "f", b"short"),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>EntityTooSmall</Code>"), "{text}");
    let e = c
        .head_object()
        .bucket("forms")
        .key("uploads/photo.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
}

/// The fields before the file are read before the signature can be checked, so they are
/// bounded as S3 bounds them: 20 KiB, `MaxPostPreDataLengthExceededError`.
#[tokio::test]
async fn form_fields_before_the_file_are_bounded() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let junk = "j".repeat(30 * 1024);
    let (status, body) = post(
        &server,
        "forms",
        "big",
        &form(
            "big",
            &[("key", "x"), ("x-ignore-junk", &junk)],
            "f",
            b"data",
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>MaxPostPreDataLengthExceededError</Code>"),
        "{body}"
    );
}
