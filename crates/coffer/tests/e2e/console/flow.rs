//! The console's main path, as the acceptance names it: sign in, see each object's
//! mode, upload under SSE-KMS and download the same bytes, disable the key and see the
//! download fail with the AWS error, the disable event under the right user, and its cost.

use aws_sdk_s3::types::ServerSideEncryption;

use super::browser::{self, Browser};
use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_sees_each_mode_moves_a_file_through_kms_and_follows_a_disabled_key() {
    if !browser::available("console::flow") {
        return;
    }
    let server = Server::start();
    let key = super::new_key(&server, Some("photos <b>key</b>")).await;
    super::bucket_in_three_modes(&server, "modes", &key).await;
    let s3 = server.alice();

    let b = Browser::open(&server).await;
    b.sign_in(ALICE).await;
    assert!(
        b.texts("#buckets td a").await.contains(&"modes".to_owned()),
        "the bucket is listed"
    );
    b.screenshot("buckets").await;
    b.goto("/buckets/modes").await;
    assert_eq!(b.text("#object-count").await, "3");
    b.screenshot("bucket").await;

    // Each object's mode, as its HEAD tells it.
    b.goto("/objects/modes").await;
    let mode = |k: &str| format!("tr[data-key=\"{k}\"] td.mode");
    assert_eq!(b.text(&mode("s3.txt")).await, "SSE-S3");
    assert_eq!(b.text(&mode("kms.txt")).await, "SSE-KMS");
    assert_eq!(b.text(&mode("customer.txt")).await, "SSE-C");
    assert!(
        b.text("tr[data-key=\"kms.txt\"] td.kms-key")
            .await
            .ends_with(&format!("key/{key}")),
        "the SSE-KMS object names its key"
    );
    b.screenshot("objects").await;
    // On a phone's screen the same page still reads: the table scrolls inside its box.
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    b.goto("/objects/modes").await;
    let page_width: i64 = b
        .driver
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    let screen_width: i64 = b
        .driver
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert!(
        page_width <= screen_width,
        "the page fits a phone's width ({page_width} > {screen_width})"
    );
    b.screenshot("objects-phone").await;
    b.driver.set_window_rect(0, 0, 1280, 900).await.unwrap();

    // Upload under SSE-KMS with the key, and download the same bytes.
    let data = pattern(300_000, 42);
    let file = tempfile::tempdir().unwrap();
    let path = file.path().join("report.bin");
    std::fs::write(&path, &data).unwrap();
    b.click("#upload summary").await;
    b.fill("#upload-key", "uploaded.bin").await;
    b.click("#upload-mode option[value='SSE-KMS']").await;
    b.fill("#upload-kms-key", &key).await;
    b.driver
        .find(thirtyfour::By::Id("upload-file"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    b.submit("#upload-submit").await;
    assert_eq!(b.text("#done").await, "Uploaded uploaded.bin.");
    let head = s3
        .head_object()
        .bucket("modes")
        .key("uploaded.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption,
        Some(ServerSideEncryption::AwsKms)
    );
    assert!(head.ssekms_key_id.unwrap().ends_with(&key));
    assert_eq!(head.content_length, Some(data.len() as i64));
    assert_eq!(b.text(&mode("uploaded.bin")).await, "SSE-KMS");
    b.click("tr[data-key=\"uploaded.bin\"] a.download").await;
    assert!(
        b.downloaded().await == data,
        "the download is byte-identical"
    );

    // Disable the key: the console asks first.
    b.goto(&format!("/keys/{key}")).await;
    b.submit("#disable-key").await;
    assert!(b.text("#confirm").await.contains("Disable this key?"));
    b.screenshot("key-confirm").await;
    b.submit("#confirm-submit").await;
    assert_eq!(b.text("#key-state").await, "Disabled");
    b.screenshot("key").await;
    let state = crate::kms::kms_client(&server, ALICE)
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_state;
    assert_eq!(state, Some(aws_sdk_kms::types::KeyState::Disabled));

    // The download now fails, with the error GetObject gives.
    let e = s3
        .get_object()
        .bucket("modes")
        .key("uploaded.bin")
        .send()
        .await
        .unwrap_err();
    let (code, status) = err_code(&e);
    b.goto("/download/modes?key=uploaded.bin").await;
    assert_eq!(Some(b.text("#error-code").await), code);
    assert_eq!(b.text("#error-status").await, status.to_string());
    b.screenshot("download-refused").await;

    // The disable event, under the user who made it.
    b.goto("/audit?event_name=DisableKey").await;
    assert_eq!(b.texts("tr.event td.event-user").await, vec!["alice"]);
    assert_eq!(b.texts("tr.event td.event-name").await, vec!["DisableKey"]);
    b.goto("/audit").await;
    b.screenshot("audit").await;

    // The cost page counts it (the same figures as `coffer kms usage`).
    b.goto("/cost").await;
    assert_eq!(
        b.text("tr[data-operation=\"DisableKey\"][data-user=\"alice\"] td.requests")
            .await,
        "1"
    );
    b.screenshot("cost").await;
    b.goto("/keys").await;
    // A description is shown as the text it is.
    assert!(b.source().await.contains("photos &lt;b&gt;key&lt;/b&gt;"));
    b.screenshot("keys").await;
    b.goto("/health").await;
    b.submit("#verify-now").await;
    assert_eq!(b.text("#trail-status").await, "Verified");
    b.screenshot("health").await;
    b.close().await;
}
