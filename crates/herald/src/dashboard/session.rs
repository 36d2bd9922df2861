//! Who is looking at the dashboard: server-side sessions behind an opaque cookie, and the CSRF
//! token each session carries.
//!
//! The cookie holds only a random 256-bit id (HttpOnly, SameSite=Strict, path `/dashboard`); the
//! session itself stays in this process's memory, so logging out or restarting ends it and
//! nothing about the account travels with the browser. Every POST but the login must carry the
//! session's CSRF token, as the form field `csrf` or (htmx) the `X-CSRF-Token` header.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header;
use cookie::{Cookie, SameSite};

/// The cookie carrying the session id.
pub const COOKIE: &str = "herald_session";
/// The header htmx sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field plain forms send it in.
pub const CSRF_FIELD: &str = "csrf";

/// A logged-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account_id: i64,
    pub username: String,
    /// Sees every account, the carriers and the global blacklist.
    pub operator: bool,
    /// Must come back with every state-changing request of this session.
    pub csrf: String,
}

/// The sessions of this process.
pub struct Sessions {
    live: Mutex<HashMap<String, (Session, Instant)>>,
    /// Idle time after which a session ends.
    idle: Duration,
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// Starts a session; returns its id, for the cookie.
    pub fn start(&self, account_id: i64, username: &str, operator: bool) -> String {
        let id = random_token();
        let session = Session {
            account_id,
            username: username.to_owned(),
            operator,
            csrf: random_token(),
        };
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        // Forgetting idle sessions here bounds the table by the logins of one idle period.
        live.retain(|_, (_, seen)| seen.elapsed() < self.idle);
        live.insert(id.clone(), (session, Instant::now()));
        id
    }

    /// The session of the request's cookie, if it is live; using it keeps it alive.
    pub fn find(&self, headers: &HeaderMap) -> Option<Session> {
        let id = session_id(headers)?;
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match live.get_mut(&id) {
            Some((session, seen)) if seen.elapsed() < self.idle => {
                *seen = Instant::now();
                Some(session.clone())
            }
            Some(_) => {
                live.remove(&id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = session_id(headers) {
            self.live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

/// The `Set-Cookie` value that hands the browser its session id.
pub fn cookie(id: &str) -> String {
    Cookie::build((COOKIE, id.to_owned()))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .build()
        .to_string()
}

/// The `Set-Cookie` value that makes the browser forget it.
pub fn expired_cookie() -> String {
    Cookie::build((COOKIE, ""))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// Whether `offered` is the session's token, compared in constant time.
pub fn csrf_matches(session: &Session, offered: Option<&[u8]>) -> bool {
    let Some(offered) = offered else { return false };
    let expected = session.csrf.as_bytes();
    offered.len() == expected.len()
        && offered
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_at_logout() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.start(7, "alice", false);
        let headers = with_cookie(&format!("other=1; {COOKIE}={id}"));
        let session = sessions.find(&headers).unwrap();
        assert_eq!((session.account_id, session.operator), (7, false));
        assert!(
            sessions
                .find(&with_cookie(&format!("{COOKIE}=forged")))
                .is_none()
        );
        sessions.end(&headers);
        assert!(sessions.find(&headers).is_none());
    }

    #[test]
    fn an_idle_session_ends() {
        let sessions = Sessions::new(Duration::ZERO);
        let id = sessions.start(7, "alice", false);
        assert!(
            sessions
                .find(&with_cookie(&format!("{COOKIE}={id}")))
                .is_none()
        );
    }

    #[test]
    fn the_session_cookie_is_http_only_and_same_site_strict() {
        let cookie = cookie("abc");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/dashboard"), "{cookie}");
    }

    #[test]
    fn only_the_sessions_own_csrf_token_matches() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.start(7, "alice", false);
        let session = sessions
            .find(&with_cookie(&format!("{COOKIE}={id}")))
            .unwrap();
        assert!(csrf_matches(&session, Some(session.csrf.as_bytes())));
        assert!(!csrf_matches(&session, Some(b"0000")));
        assert!(!csrf_matches(&session, None));
        let other = sessions.start(8, "bob", false);
        let other = sessions
            .find(&with_cookie(&format!("{COOKIE}={other}")))
            .unwrap();
        assert!(!csrf_matches(&session, Some(other.csrf.as_bytes())));
    }
}
