//! `auth/client-credentials` (krakend-oauth2-clientcredentials): a
//! backend is called with an OAuth2 token its process fetched with the
//! client credentials grant (golang.org/x/oauth2 `clientcredentials`).
//!
//! - One [`TokenSource`] per backend setting per process ([`shared`]),
//!   shared by the workers: the token is read without a lock; a fetch is
//!   made by one task at a time (`rt::Gate`) on a thread of its own
//!   (`rt::off_thread`, `fetch::post_form`), when there is no token or it
//!   expires within 10 s (oauth2 `token.go` `expiryDelta`).
//! - The request (oauth2 `internal/token.go`): a form POST of
//!   `grant_type=client_credentials`, `scope` (the `scopes` joined with
//!   spaces, sent even when empty, as Go's `strings.Split("")` gives one
//!   empty scope) and `endpoint_params`; the client authenticates with
//!   HTTP Basic first (id and secret form-escaped), and on failure with
//!   `client_id`/`client_secret` in the form; the style that worked is
//!   kept. A 2xx JSON answer with `access_token` is a token.
//! - The backend gets `Authorization: <type> <token>` in place of any the
//!   client sent (oauth2 `Transport`, `Token.Type`).
//! - A fetch that fails fails the call (lura reports the client's error):
//!   no token is remembered, the next request tries again. Neither the
//!   secret nor a token is ever logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use serde_json::Value;

use crate::config::ClientCredentialsSettings;
use crate::upstream::BackendError;

/// oauth2 `token.go`: a token is renewed this long before it expires.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// How the client authenticates (oauth2 `AuthStyle`).
const STYLE_UNKNOWN: u8 = 0;
const STYLE_HEADER: u8 = 1;
const STYLE_PARAMS: u8 = 2;

struct Token {
    /// The header value: `Bearer <token>`.
    authorization: String,
    /// `None`: no `expires_in`, valid until the token server is asked again.
    renew_at: Option<Instant>,
}

/// One backend setting's token, for the process.
pub struct TokenSource {
    settings: ClientCredentialsSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    current: ArcSwapOption<Token>,
    gate: crate::rt::Gate,
    style: AtomicU8,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The process's token source for `settings` (a reload keeps its token).
pub fn shared(
    settings: &ClientCredentialsSettings,
    tls: &Arc<rustls::ClientConfig>,
) -> Arc<TokenSource> {
    static ALL: ArcSwapOption<Vec<Arc<TokenSource>>> = ArcSwapOption::const_empty();
    let known = ALL.load_full().unwrap_or_default();
    let same = |s: &&Arc<TokenSource>| {
        let (a, b) = (&s.settings, settings);
        (
            &a.client_id,
            &a.client_secret,
            &a.token_url,
            &a.scopes,
            &a.endpoint_params,
        ) == (
            &b.client_id,
            &b.client_secret,
            &b.token_url,
            &b.scopes,
            &b.endpoint_params,
        )
    };
    if let Some(found) = known.iter().find(same) {
        return found.clone();
    }
    let made = Arc::new(TokenSource {
        settings: settings.clone(),
        tls: settings
            .token_url
            .starts_with("https://")
            .then(|| tls.clone()),
        current: ArcSwapOption::const_empty(),
        gate: crate::rt::Gate::default(),
        style: AtomicU8::new(STYLE_UNKNOWN),
    });
    let mut next = (*known).clone();
    next.push(made.clone());
    ALL.store(Some(Arc::new(next)));
    made
}

impl TokenSource {
    /// The `Authorization` value for a call now, fetching a token if needed.
    pub async fn authorization(self: &Arc<Self>) -> Result<String, String> {
        if let Some(value) = self.valid() {
            return Ok(value);
        }
        let _open = self.gate.enter().await;
        // Another task may have fetched it while this one waited.
        if let Some(value) = self.valid() {
            return Ok(value);
        }
        let me = self.clone();
        let fetched = crate::rt::off_thread(move || me.fetch())
            .await
            .unwrap_or_else(|| Err("the token fetch thread did not finish".to_owned()))?;
        let value = fetched.authorization.clone();
        self.current.store(Some(Arc::new(fetched)));
        Ok(value)
    }

    fn valid(&self) -> Option<String> {
        let token = self.current.load();
        let token = token.as_ref()?;
        match token.renew_at {
            Some(at) if Instant::now() >= at => None,
            _ => Some(token.authorization.clone()),
        }
    }

    /// oauth2 `RetrieveToken`: Basic first, then the form, unless known.
    fn fetch(&self) -> Result<Token, String> {
        let style = self.style.load(Ordering::Relaxed);
        let first = if style == STYLE_UNKNOWN {
            STYLE_HEADER
        } else {
            style
        };
        let mut result = self.request(first);
        let mut used = first;
        if result.is_err() && style == STYLE_UNKNOWN {
            used = STYLE_PARAMS;
            result = self.request(STYLE_PARAMS);
        }
        if result.is_ok() && style == STYLE_UNKNOWN {
            self.style.store(used, Ordering::Relaxed);
        }
        result.map_err(|e| format!("oauth2: cannot fetch token: {e}"))
    }

    fn request(&self, style: u8) -> Result<Token, String> {
        let s = &self.settings;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        let scope = s.scopes.join(" ");
        form.push(("scope", &scope));
        for (name, values) in &s.endpoint_params {
            // Go's `v[k] = p`: a parameter replaces one set before.
            form.retain(|(k, _)| k != name);
            form.extend(values.iter().map(|v| (name.as_str(), v.as_str())));
        }
        let mut headers = String::new();
        if style == STYLE_PARAMS {
            if !s.client_id.is_empty() {
                form.push(("client_id", &s.client_id));
            }
            if !s.client_secret.is_empty() {
                form.push(("client_secret", &s.client_secret));
            }
        } else {
            let pair = format!(
                "{}:{}",
                query_escape(&s.client_id),
                query_escape(&s.client_secret)
            );
            headers = format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
        }
        // Go's `url.Values.Encode`: sorted by name.
        form.sort_by(|a, b| a.0.cmp(b.0));
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        let (status, answer) =
            super::fetch::post_form(&s.token_url, self.tls.as_ref(), &headers, body.as_bytes())?;
        if !(200..300).contains(&status) {
            return Err(format!("the token server answered {status}"));
        }
        parse_token(&answer)
    }
}

/// A token response (RFC 6749 §5.1; oauth2 `internal/token.go`: JSON, or
/// a form for the servers that answer `application/x-www-form-urlencoded`
/// or `text/plain`; here any body that is not JSON is read as a form).
fn parse_token(body: &[u8]) -> Result<Token, String> {
    let json: Value = match serde_json::from_slice(body) {
        Ok(json) => json,
        Err(_) => form_object(body).ok_or("the token response is neither JSON nor a form")?,
    };
    let access = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("server response missing access_token")?;
    let kind = match json.get("token_type").and_then(Value::as_str).unwrap_or("") {
        t if t.eq_ignore_ascii_case("bearer") || t.is_empty() => "Bearer",
        t if t.eq_ignore_ascii_case("mac") => "MAC",
        t if t.eq_ignore_ascii_case("basic") => "Basic",
        t => t,
    };
    let authorization = format!("{kind} {access}");
    if authorization
        .bytes()
        .any(|b| b < b' ' && b != b'\t' || b == 0x7f)
    {
        return Err("the token holds a control character".to_owned());
    }
    let expires_in = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|s| *s != 0);
    let renew_at = expires_in.map(|secs| {
        let life = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        (Instant::now() + life)
            .checked_sub(EXPIRY_DELTA)
            .unwrap_or_else(Instant::now)
    });
    Ok(Token {
        authorization,
        renew_at,
    })
}

/// A form body as a JSON object of its first values.
fn form_object(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    let mut object = serde_json::Map::new();
    for pair in text.trim().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (unescape(k)?, unescape(v)?);
        object.entry(k).or_insert(Value::String(v));
    }
    Some(Value::Object(object))
}

/// Go's `url.QueryUnescape`.
fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Go's `url.QueryEscape`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The header lines of `headers` (each `Name: value\r\n`) without any
/// `Authorization`, then `Authorization: <value>`: what a backend with
/// client credentials is sent. `None` source: `headers` as they are.
pub async fn authorize<'h>(
    source: Option<&Arc<TokenSource>>,
    headers: &'h [u8],
    own: &'h mut Vec<u8>,
) -> Result<&'h [u8], BackendError> {
    let Some(source) = source else {
        return Ok(headers);
    };
    let value = source.authorization().await.map_err(|e| {
        BackendError::Rejected(format!("Post \"{}\": {e}", source.settings.token_url))
    })?;
    own.clear();
    for line in headers.split_inclusive(|&b| b == b'\n') {
        let is_auth = line.len() > 14 && line[..14].eq_ignore_ascii_case(b"authorization:");
        if !is_auth {
            own.extend_from_slice(line);
        }
    }
    own.extend_from_slice(b"Authorization: ");
    own.extend_from_slice(value.as_bytes());
    own.extend_from_slice(b"\r\n");
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let t =
            parse_token(br#"{"access_token": "abc", "token_type": "bearer", "expires_in": 3600}"#)
                .unwrap();
        assert_eq!(t.authorization, "Bearer abc");
        assert!(t.renew_at.is_some());
        let t = parse_token(br#"{"access_token": "abc"}"#).unwrap();
        assert!(t.renew_at.is_none());
        assert!(parse_token(br#"{"token_type": "bearer"}"#).is_err());
        assert!(parse_token(br#"{"access_token": "a\nb"}"#).is_err());
        let t = parse_token(b"access_token=a%2Bb&token_type=bearer&expires_in=60").unwrap();
        assert_eq!(t.authorization, "Bearer a+b");
        assert!(t.renew_at.is_some());
        assert!(parse_token(b"error=invalid_client").is_err());
        assert_eq!(query_escape("a b/c:d"), "a+b%2Fc%3Ad");
    }
}
