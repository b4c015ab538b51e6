//! The console's defences: CSRF tokens on every change, the session cookie's attributes,
//! sign-in that never echoes a secret, and stored values rendered as text.

use aws_sdk_s3::primitives::ByteStream;
use thirtyfour::prelude::*;

use super::browser::{self, Browser};
use crate::common::*;

/// Posts a form to `action` from the page, with the given fields (no CSRF token unless
/// one is among them), as a forged cross-site form would.
async fn post_from_page(b: &Browser, action: &str, fields: &[(&str, &str)]) {
    let old = b.driver.find(By::Css("html")).await.unwrap();
    let fields: Vec<serde_json::Value> = fields
        .iter()
        .map(|(k, v)| serde_json::json!([k, v]))
        .collect();
    b.driver
        .execute(
            "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
             for (const [k, v] of arguments[1]) { const i = document.createElement('input');
               i.name = k; i.value = v; f.appendChild(i); }
             document.body.appendChild(f); f.submit();",
            vec![serde_json::json!(action), serde_json::json!(fields)],
        )
        .await
        .unwrap();
    b.wait_replaced(old).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_without_the_session_csrf_token_is_refused() {
    if !browser::available("console::forms::csrf") {
        return;
    }
    let server = Server::start();
    let b = Browser::open(&server).await;
    b.sign_in(ALICE).await;
    b.goto("/keys").await;
    post_from_page(&b, "/console/keys", &[("description", "forged")]).await;
    let body = b.text("body").await;
    assert!(body.contains("CSRF token"), "{body}");
    b.goto("/keys").await;
    post_from_page(
        &b,
        "/console/keys",
        &[("csrf", &"0".repeat(64)), ("description", "forged")],
    )
    .await;
    assert!(b.text("body").await.contains("CSRF token"));
    // Neither made a key.
    let keys = crate::kms::kms_client(&server, ALICE)
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys
        .unwrap_or_default();
    assert!(keys.is_empty(), "{keys:?}");
    // With the page's own token the same form works.
    b.goto("/keys").await;
    b.click("#create-key summary").await;
    b.fill("#key-description", "made in the console").await;
    b.submit("#create-key-submit").await;
    assert_eq!(b.text("#done").await, "Created.");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_is_http_only_secure_and_strict_and_sign_out_ends_it() {
    if !browser::available("console::forms::cookie") {
        return;
    }
    let server = Server::start();
    let b = Browser::open(&server).await;
    // A wrong secret: refused, and never shown back.
    b.goto("/sign-in").await;
    b.fill("#access-key", ALICE.1).await;
    b.fill("#secret-key", "not-alices-secret-000000000000000000000")
        .await;
    b.submit("#sign-in").await;
    assert!(b.text("#sign-in-error").await.contains("not right"));
    assert!(!b.source().await.contains("not-alices-secret"));
    b.screenshot("sign-in").await;

    b.sign_in(ALICE).await;
    assert!(!b.source().await.contains(ALICE.2), "no secret in a page");
    let url = b.driver.current_url().await.unwrap();
    assert!(!url.as_str().contains(ALICE.2), "no secret in a URL");
    let cookie = b.driver.get_named_cookie("coffer_console").await.unwrap();
    assert_eq!(cookie.http_only, Some(true));
    assert_eq!(cookie.secure, Some(true), "Secure over TLS");
    assert_eq!(cookie.same_site, Some(SameSite::Strict));
    assert!(cookie.expiry.is_some(), "the session expires");
    b.submit("#sign-out").await;
    assert!(
        b.driver
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/console/sign-in")
    );
    // The old token is dead even if replayed.
    let (status, _) = http_get_with_cookie(&server, "/console/buckets", &cookie.value);
    assert_eq!(status, 303, "a dead session is sent to sign in");
    b.close().await;
}

/// A GET over plain HTTP (loopback) with the session cookie; the status.
fn http_get_with_cookie(server: &Server, path: &str, token: &str) -> (u16, String) {
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\ncookie: coffer_console={token}\r\nconnection: close\r\n\r\n",
        server.http
    );
    raw_exchange(server.http, req.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn object_keys_that_look_like_markup_render_as_text() {
    if !browser::available("console::forms::escaping") {
        return;
    }
    let server = Server::start();
    let s3 = server.alice();
    s3.create_bucket().bucket("markup").send().await.unwrap();
    let names = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(2)>.txt",
    ];
    for name in names {
        s3.put_object()
            .bucket("markup")
            .key(name)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let b = Browser::open(&server).await;
    b.sign_in(ALICE).await;
    b.goto("/objects/markup").await;
    // The key with a slash is listed under its prefix, as S3's console lists it.
    assert_eq!(
        b.texts("tr.folder a").await,
        vec!["<script>alert(1)</".to_owned()]
    );
    assert_eq!(b.texts("td.key").await, vec![names[1].to_owned()]);
    b.submit("tr.folder a").await;
    assert_eq!(b.texts("td.key").await, vec!["script>".to_owned()]);
    let row = b.driver.find(By::Css("tr[data-key]")).await.unwrap();
    assert_eq!(
        row.attr("data-key").await.unwrap().as_deref(),
        Some(names[0])
    );
    // No script ran: no alert is open, and no element was made from the names.
    assert!(b.driver.get_alert_text().await.is_err(), "an alert opened");
    assert!(
        b.driver
            .find_all(By::Css("main script, main img"))
            .await
            .unwrap()
            .is_empty()
    );
    b.close().await;
}
