//! The XML request bodies the S3 API reads: ours (PutBucketEncryption, UpdateObjectEncryption)
//! and the ones `s3s` parses for us (CompleteMultipartUpload, DeleteObjects, Tagging,
//! CreateBucketConfiguration). The first byte picks the body's kind. Nothing may panic; our
//! parsers answer only with the S3 errors they document, and a bucket encryption configuration
//! they accept must come back unchanged through GetBucketEncryption's rendering and a second
//! parse.
#![no_main]

use coffer_store::BucketEncryption;
use libfuzzer_sys::fuzz_target;
use s3s::S3ErrorCode;
use s3s::xml::{Deserialize, Deserializer};

fn s3s_parse<T: for<'xml> Deserialize<'xml>>(body: &[u8]) {
    let mut d = Deserializer::new(body);
    if T::deserialize(&mut d).is_ok() {
        let _ = d.expect_eof();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 8 {
        0 | 1 => {
            // A PUT that omits BlockedEncryptionTypes keeps the bucket's current block.
            let previous = (kind % 8 == 1).then(|| BucketEncryption {
                algorithm: "AES256".into(),
                kms_key_id: None,
                bucket_key_enabled: false,
                blocked_types: vec!["SSE-C".into()],
            });
            match coffer_s3::parse_bucket_encryption(body, previous.as_ref()) {
                Ok(config) => {
                    let rendered = coffer_s3::render_bucket_encryption(Some(config.clone()));
                    let again = coffer_s3::parse_bucket_encryption(rendered.as_bytes(), None)
                        .unwrap_or_else(|e| {
                            panic!("our own rendering does not parse: {e:?}\n{rendered}")
                        });
                    assert_eq!(
                        again, config,
                        "the configuration changed through GET\n{rendered}"
                    );
                }
                Err(e) => assert!(
                    matches!(
                        e.code(),
                        S3ErrorCode::MalformedXML
                            | S3ErrorCode::InvalidArgument
                            | S3ErrorCode::NotImplemented
                    ),
                    "unexpected error {e:?}"
                ),
            }
        }
        2 => match coffer_s3::parse_object_encryption(body) {
            Ok(request) => assert!(
                request.key_arn.starts_with("arn:aws") && request.key_arn.contains(":key/"),
                "accepted a key that is not a key ARN: {:?}",
                request.key_arn
            ),
            Err(e) => assert!(
                matches!(
                    e.code(),
                    S3ErrorCode::MalformedXML | S3ErrorCode::InvalidRequest
                ),
                "unexpected error {e:?}"
            ),
        },
        3 => s3s_parse::<s3s::dto::CompletedMultipartUpload>(body),
        4 => s3s_parse::<s3s::dto::Delete>(body),
        5 => s3s_parse::<s3s::dto::Tagging>(body),
        6 => s3s_parse::<s3s::dto::CreateBucketConfiguration>(body),
        _ => s3s_parse::<s3s::dto::ServerSideEncryptionConfiguration>(body),
    }
});
