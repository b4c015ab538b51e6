use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;

use crate::common::*;

/// Every entry of bucket `lst` listed with delimiter `/`, `max_keys` at a time through the
/// continuation token: each page's common prefixes, then its keys.
async fn delimited_listing(c: &aws_sdk_s3::Client, max_keys: i32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("lst")
            .delimiter("/")
            .max_keys(max_keys)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.key_count().unwrap_or(0) <= max_keys, "a page too long");
        seen.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        seen.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if page.is_truncated() != Some(true) {
            assert_eq!(token, None, "a last page with a continuation token");
            return seen;
        }
    }
}

async fn populated(server: &Server, keys: &[&str]) -> aws_sdk_s3::Client {
    let c = server.alice();
    c.create_bucket().bucket("lst").send().await.unwrap();
    for k in keys {
        c.put_object()
            .bucket("lst")
            .key(*k)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .unwrap();
    }
    c
}

const KEYS: [&str; 8] = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "space key+%"];

#[tokio::test]
async fn list_v2_paginates_and_rolls_up_prefixes() {
    let server = Server::start();
    let c = populated(&server, &KEYS).await;

    let all = c.list_objects_v2().bucket("lst").send().await.unwrap();
    let keys: Vec<_> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, KEYS.to_vec());
    assert_eq!(all.key_count(), Some(8));
    assert_eq!(all.contents()[0].size(), Some(1));
    assert_eq!(
        all.contents()[0].e_tag(),
        Some(format!("\"{}\"", md5_hex(b"v")).as_str())
    );

    let grouped = c
        .list_objects_v2()
        .bucket("lst")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = grouped.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(keys, vec!["b", "d", "space key+%"]);
    assert_eq!(prefixes, vec!["a/", "c/"]);

    let under_a = c
        .list_objects_v2()
        .bucket("lst")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = under_a.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["a/1", "a/2"]);
    assert_eq!(under_a.common_prefixes()[0].prefix(), Some("a/b/"));

    // Page through with max-keys 2, delimiter on: every entry exactly once.
    let mut seen = delimited_listing(&c, 2).await;
    seen.sort();
    assert_eq!(seen, vec!["a/", "b", "c/", "d", "space key+%"]);

    let after = c
        .list_objects_v2()
        .bucket("lst")
        .start_after("c/1")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["c/2", "d", "space key+%"]);

    let encoded = c
        .list_objects_v2()
        .bucket("lst")
        .prefix("space")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    // The SDK does not decode; S3 sends the key percent-encoded.
    assert_eq!(encoded.contents()[0].key(), Some("space%20key%2B%25"));
}

#[tokio::test]
async fn list_v1_and_versions_for_cleanup_tools() {
    let server = Server::start();
    let c = populated(&server, &KEYS).await;
    let page = c
        .list_objects()
        .bucket("lst")
        .max_keys(3)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = page.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["a/1", "a/2", "a/b/3"]);
    assert_eq!(page.is_truncated(), Some(true));
    let next = c
        .list_objects()
        .bucket("lst")
        .marker("a/b/3")
        .send()
        .await
        .unwrap();
    assert_eq!(next.contents().len(), 5);

    let versions = c.list_object_versions().bucket("lst").send().await.unwrap();
    assert_eq!(versions.versions().len(), 8);
    for v in versions.versions() {
        assert_eq!(v.version_id(), Some("null"));
        assert_eq!(v.is_latest(), Some(true));
    }
    let e = server
        .client(BOB)
        .list_objects_v2()
        .bucket("lst")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let e = c.list_objects_v2().bucket("none").send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucket".into()), 404));
}

/// Folders of more keys than the listing walks before seeking past them (64): every page is
/// still exactly S3's, including a key that sorts after the seek point inside its folder.
#[tokio::test]
async fn large_folders_roll_up_the_same_when_the_listing_seeks_past_them() {
    let server = Server::start();
    let mut keys: Vec<String> = (0..200).map(|i| format!("a/{i:04}")).collect();
    keys.extend((0..70).map(|i| format!("b/{i:04}")));
    keys.push("a/\u{10FFFF}\u{10FFFF}last".into());
    keys.push("k1".into());
    keys.push("z".into());
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let c = populated(&server, &refs).await;
    let whole = c
        .list_objects_v2()
        .bucket("lst")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = whole
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    let objects: Vec<_> = whole.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(prefixes, vec!["a/", "b/"]);
    assert_eq!(objects, vec!["k1", "z"]);
    assert_eq!(whole.key_count(), Some(4));
    // One entry per page, through the continuation token.
    let seen = delimited_listing(&c, 1).await;
    assert_eq!(seen, vec!["a/", "b/", "k1", "z"]);
    // Inside a folder nothing is rolled up: all of it, in order.
    let inside = c
        .list_objects_v2()
        .bucket("lst")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(inside.contents().len(), 201);
}

/// What each listing repeats back (prefix, marker, delimiter, where the next page starts) is
/// encoded as asked, in all three calls; and a listing's own arguments are checked only once
/// the caller may list the bucket at all.
#[tokio::test]
async fn listings_echo_their_request_and_check_it_after_the_caller() {
    let server = Server::start();
    let c = populated(&server, &KEYS).await;

    // v1: a page cut after a common prefix and a key; the next page starts after the key.
    let v1 = c
        .list_objects()
        .bucket("lst")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = v1
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    let keys: Vec<_> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!((prefixes, keys), (vec!["a/"], vec!["b"]));
    assert_eq!(v1.is_truncated(), Some(true));
    assert_eq!(v1.next_marker(), Some("b"));
    assert_eq!(v1.marker(), Some(""));
    assert_eq!(v1.max_keys(), Some(2));
    assert_eq!(v1.delimiter(), Some("/"));

    // Encoded: the prefix, marker, delimiter and keys of v1 and of the versions listing.
    let v1 = c
        .list_objects()
        .bucket("lst")
        .prefix("space ")
        .marker("space a")
        .delimiter("+")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.prefix(), Some("space%20"));
    assert_eq!(v1.marker(), Some("space%20a"));
    assert_eq!(v1.delimiter(), Some("%2B"));
    let prefixes: Vec<_> = v1
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["space%20key%2B"]);
    assert_eq!(v1.next_marker(), None);
    let versions = c
        .list_object_versions()
        .bucket("lst")
        .prefix("space ")
        .key_marker("space a")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.prefix(), Some("space%20"));
    assert_eq!(versions.key_marker(), Some("space%20a"));
    let keys: Vec<_> = versions.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, vec!["space%20key%2B%25"]);

    // The versions listing cut like v1: its next key marker, with the only version id.
    let versions = c
        .list_object_versions()
        .bucket("lst")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.next_key_marker(), Some("b"));
    assert_eq!(versions.next_version_id_marker(), Some("null"));
    assert_eq!(versions.common_prefixes()[0].prefix(), Some("a/"));

    // v2 echoes the token and start-after it was given.
    let first = c
        .list_objects_v2()
        .bucket("lst")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    let token = first.next_continuation_token().unwrap().to_owned();
    let second = c
        .list_objects_v2()
        .bucket("lst")
        .max_keys(1)
        .continuation_token(&token)
        .start_after("0")
        .send()
        .await
        .unwrap();
    assert_eq!(second.continuation_token(), Some(token.as_str()));
    assert_eq!(second.start_after(), Some("0"));
    assert_eq!(second.contents()[0].key(), Some("a/2"));

    // Refused arguments: 400 InvalidArgument for the owner, 403 for a caller who may not list.
    let bad_token = || c.list_objects_v2().bucket("lst").continuation_token("!!");
    let e = bad_token().send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    let e = c
        .list_objects()
        .bucket("lst")
        .max_keys(-1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    let e = c
        .list_object_versions()
        .bucket("lst")
        .encoding_type(EncodingType::from("base64"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    let e = server
        .client(BOB)
        .list_objects_v2()
        .bucket("lst")
        .continuation_token("!!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
}
