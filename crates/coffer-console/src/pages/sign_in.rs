//! Signing in with an access key and secret key of the configuration.

use askama::Template;
use http::{Request, Response, StatusCode};
use s3s::Body;
use subtle::ConstantTimeEq;

use crate::{Console, session, web};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn<'a> {
    error: Option<&'a str>,
}

pub fn form(error: Option<&str>) -> Response<Body> {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    super::render_status(status, &SignIn { error })
}

/// Browsers send `Origin` with a POST: a sign-in posted from another site is refused
/// (login CSRF), as SameSite=Strict cannot cover a form that has no session yet. The host
/// is `Host` over HTTP/1.1 and the URI's authority over HTTP/2.
fn same_origin(parts: &http::request::Parts) -> bool {
    let headers = &parts.headers;
    let Some(origin) = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

pub async fn submit(console: &Console, req: Request<Body>, secure: bool) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if !same_origin(&parts) {
        return web::text(StatusCode::FORBIDDEN, "Sign-in from another site refused.");
    }
    let Some(form) = web::read_form(&parts.headers, body).await else {
        return form_error("Expected the sign-in form.");
    };
    let access_key = form.get("access_key").map(|s| s.trim()).unwrap_or_default();
    let secret = form
        .get("secret_key")
        .map(String::as_str)
        .unwrap_or_default();
    let identity = console.directory().lookup(access_key);
    // The same work and the same answer whether the key or the secret is wrong.
    let known = identity.as_ref().map(|i| i.secret.as_str()).unwrap_or("");
    let matches = bool::from(known.as_bytes().ct_eq(secret.as_bytes()));
    let Some(identity) = identity.filter(|_| matches && !secret.is_empty()) else {
        tracing::info!(target: "coffer::console", "a console sign-in was refused");
        return form_error("The access key or secret key is not right.");
    };
    let token = console
        .sessions()
        .start(access_key.to_owned(), identity.name.clone());
    tracing::info!(target: "coffer::console", user = %identity.name, "signed in to the console");
    let mut resp = web::redirect("/console/buckets");
    if let Ok(v) = session::set_cookie(&token, secure).parse() {
        resp.headers_mut().insert(http::header::SET_COOKIE, v);
    }
    resp
}

fn form_error(message: &str) -> Response<Body> {
    form(Some(message))
}
