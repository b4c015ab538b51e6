//! Signed-in sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure over
//! TLS) names a session held in this process's memory; the session knows the user's access
//! key and its CSRF token, never the secret (looked up for each API call).
//!
//! Sessions are this gateway's: behind a load balancer, the console wants sticky sessions
//! (or one gateway serving it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "coffer_console";
/// A session ends this long after sign-in, used or not.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// At most this many sessions at once; the oldest goes first (sign-ins only come with a
/// user's keys, so this bounds memory against a flood of them, not strangers).
const MAX_SESSIONS: usize = 10_000;

#[derive(Clone)]
pub struct Session {
    pub access_key: String,
    pub user_name: String,
    /// Sent back in every form; a change without it is refused.
    pub csrf: String,
    pub started: Instant,
}

impl Session {
    /// Whether a form's token is this session's (constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        !token.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

#[derive(Default)]
pub struct Sessions {
    /// Keyed by the SHA-256 of the cookie's token: the map never holds a usable token.
    by_token_hash: Mutex<HashMap<[u8; 32], Session>>,
}

fn token_hash(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's randomness failed");
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session; returns the cookie's token.
    pub fn start(&self, access_key: String, user_name: String) -> String {
        let token = random_token();
        let session = Session {
            access_key,
            user_name,
            csrf: random_token(),
            started: Instant::now(),
        };
        let mut map = self.by_token_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.started.elapsed() < LIFETIME);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(token_hash(&token), session);
        token
    }

    /// The live session a cookie names.
    pub fn get(&self, token: &str) -> Option<Session> {
        let hash = token_hash(token);
        let mut map = self.by_token_hash.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&hash) {
            Some(s) if s.started.elapsed() < LIFETIME => Some(s.clone()),
            Some(_) => {
                map.remove(&hash);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, token: &str) {
        self.by_token_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token_hash(token));
    }
}

/// The session token in a request's `Cookie` headers.
pub fn cookie_token(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The `Set-Cookie` value for a new session (`secure`: served over TLS).
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/console/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/console/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_token_only() {
        let s = Sessions::default();
        let token = s.start("AK".into(), "alice".into());
        let found = s.get(&token).expect("the session");
        assert_eq!(found.user_name, "alice");
        assert!(found.csrf_matches(&found.csrf.clone()));
        assert!(!found.csrf_matches(""));
        assert!(!found.csrf_matches("nope"));
        assert!(s.get(&random_token()).is_none());
        s.end(&token);
        assert!(s.get(&token).is_none());
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; coffer_console=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("abc"));
        assert!(set_cookie("t", true).contains("HttpOnly; SameSite=Strict; Secure"));
        assert!(!set_cookie("t", false).contains("Secure"));
    }
}
