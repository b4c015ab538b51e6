//! Coffer's web console, served under `/console/` by `coffer serve` itself: server-rendered
//! HTML (askama templates compiled into the binary), charts drawn on the server as SVG,
//! one small script, nothing from elsewhere.
//!
//! It holds no authority of its own. A signed-in browser has a session naming a user; every
//! page reads, and every form changes, through the server's APIs signed as that user
//! ([`api::AsUser`]), so bucket policies, key policies and ownership decide what the console
//! shows and does exactly as they decide for the AWS CLI, and the audit trail names the user.

pub mod api;
mod assets;
mod charts;
mod pages;
mod prometheus;
mod s3_xml;
pub mod session;
mod web;

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use s3s::Body;

pub use api::{Api, Directory, Identity};
use session::{Session, Sessions};

/// Where the console lives.
pub const PREFIX: &str = "/console";

/// Whether a request is the console's: under `/console/`, from a browser (unsigned; a
/// signed request there is S3's, for a bucket that happens to be called `console`), over
/// TLS or from this machine.
pub fn is_console_request(
    uri: &http::Uri,
    headers: &http::HeaderMap,
    secure: bool,
    loopback: bool,
) -> bool {
    let path = uri.path();
    (path == PREFIX || path.starts_with("/console/"))
        && !headers.contains_key(http::header::AUTHORIZATION)
        && !uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature") || q.contains("Signature="))
        && (secure || loopback)
}

/// The console of one server.
pub struct Console {
    sessions: Sessions,
    directory: Arc<dyn Directory>,
    region: String,
    /// This process's Prometheus text (the health and cost pages read a few series).
    metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

/// What a page handler has: the session, a client acting as its user, the connection.
pub(crate) struct Ctx {
    pub session: Session,
    pub user: api::AsUser,
    pub secure: bool,
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

impl Console {
    pub fn new(
        directory: Arc<dyn Directory>,
        region: String,
        metrics: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> Self {
        Self {
            sessions: Sessions::default(),
            directory,
            region,
            metrics,
        }
    }

    /// Serves one console request; `api` is the server's front door, `secure` whether the
    /// browser's connection is TLS.
    pub async fn serve(
        &self,
        req: Request<Body>,
        api: Arc<dyn Api>,
        secure: bool,
    ) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let rest = path
            .strip_prefix(PREFIX)
            .unwrap_or_default()
            .trim_start_matches('/');
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        match (&method, seg.as_slice()) {
            (&Method::GET, ["assets", name]) => return assets::serve(name),
            (&Method::GET, ["sign-in"]) => return pages::sign_in::form(None),
            (&Method::POST, ["sign-in"]) => {
                return pages::sign_in::submit(self, req, secure).await;
            }
            _ => {}
        }
        let token = session::cookie_token(req.headers());
        let Some((token, session)) = token.and_then(|t| self.sessions.get(&t).map(|s| (t, s)))
        else {
            return match method {
                Method::GET | Method::HEAD => web::redirect("/console/sign-in"),
                _ => web::text(StatusCode::FORBIDDEN, "Not signed in: sign in again."),
            };
        };
        let Some(identity) = self.directory.lookup(&session.access_key) else {
            // The user left the configuration: the session goes with them.
            self.sessions.end(&token);
            return web::redirect("/console/sign-in");
        };
        let ctx = Ctx {
            user: api::AsUser::new(
                api,
                session.access_key.clone(),
                identity.secret,
                self.region.clone(),
                req.extensions().clone(),
            ),
            session,
            secure,
            metrics: self.metrics.clone(),
        };
        if method == Method::POST {
            return self.change(ctx, &token, seg.as_slice(), req).await;
        }
        let q = web::query(req.uri());
        match seg.as_slice() {
            [] => web::redirect("/console/buckets"),
            ["buckets"] => pages::buckets::list(&ctx).await,
            ["buckets", b] => pages::buckets::show(&ctx, b).await,
            ["objects", b] => pages::objects::list(&ctx, b, &q).await,
            ["download", b] => pages::transfer::download(&ctx, b, &q).await,
            ["keys"] => pages::keys::list(&ctx).await,
            ["keys", id] => pages::keys::show(&ctx, id, &q).await,
            ["audit"] => pages::audit::timeline(&ctx, &q).await,
            ["audit", "chart.svg"] => pages::audit::chart(&ctx, &q).await,
            ["cost"] => pages::cost::page(&ctx).await,
            ["health"] => pages::health::page(&ctx).await,
            _ => pages::not_found(&ctx),
        }
    }

    /// A form that changes something: refused without this session's CSRF token.
    async fn change(
        &self,
        ctx: Ctx,
        token: &str,
        seg: &[&str],
        req: Request<Body>,
    ) -> Response<Body> {
        // Uploads are multipart and carry the token as their first field (checked there,
        // before any of the file is read).
        if let ["objects", b, "upload"] = seg {
            return pages::transfer::upload(&ctx, b, req).await;
        }
        let (parts, body) = req.into_parts();
        let Some(form) = web::read_form(&parts.headers, body).await else {
            return web::text(StatusCode::BAD_REQUEST, "Expected a form.");
        };
        if !ctx
            .session
            .csrf_matches(form.get("csrf").map(String::as_str).unwrap_or_default())
        {
            return web::text(
                StatusCode::FORBIDDEN,
                "This form is missing its CSRF token or the token is not this session's: \
                 reload the page and try again.",
            );
        }
        match seg {
            ["sign-out"] => {
                self.sessions.end(token);
                let mut resp = web::redirect("/console/sign-in");
                if let Ok(v) = session::clear_cookie(ctx.secure).parse() {
                    resp.headers_mut().insert(http::header::SET_COOKIE, v);
                }
                resp
            }
            ["buckets", b, "policy"] => pages::buckets::set_policy(&ctx, b, &form).await,
            ["objects", b, "encryption"] => pages::objects::change_encryption(&ctx, b, &form).await,
            ["download", b] => pages::transfer::download(&ctx, b, &form).await,
            ["keys"] => pages::keys::create(&ctx, &form).await,
            ["health", "verify"] => pages::health::verify(&ctx).await,
            ["keys", id, action] => pages::keys::act(&ctx, id, action, &form).await,
            _ => pages::not_found(&ctx),
        }
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(crate) fn directory(&self) -> &dyn Directory {
        self.directory.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::is_console_request;

    #[test]
    fn only_unsigned_requests_over_tls_or_from_loopback_are_the_consoles() {
        let none = http::HeaderMap::new();
        let page: http::Uri = "/console/buckets".parse().unwrap();
        assert!(is_console_request(&page, &none, true, false));
        assert!(is_console_request(&page, &none, false, true));
        assert!(
            !is_console_request(&page, &none, false, false),
            "plain HTTP from another machine"
        );
        let mut signed = http::HeaderMap::new();
        signed.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
        );
        assert!(
            !is_console_request(&page, &signed, true, true),
            "S3's, for a bucket called console"
        );
        let presigned: http::Uri = "/console/k?X-Amz-Signature=abc".parse().unwrap();
        assert!(!is_console_request(&presigned, &none, true, true));
        let other: http::Uri = "/consoles/x".parse().unwrap();
        assert!(!is_console_request(&other, &none, true, true));
    }
}
