//! A verified token's claims, and the checks KrakenD's validator makes on
//! them: `iss`, `aud`, `exp`/`nbf`/`iat` with a leeway (401 when they
//! fail), then roles and scopes (403).

use std::time::Duration;

use serde_json::{Map, Value};

/// The claims of a token whose signature was verified: the payload as a
/// JSON object. Shared (`Rc`) by the steps of one request, e.g.
/// `RequestFacts::jwt` for `{JWT.claim}`, `propagate_claims` and CEL.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    value: Value,
}

impl Claims {
    pub fn new(object: Map<String, Value>) -> Claims {
        Claims {
            value: Value::Object(object),
        }
    }

    /// The whole payload: always a JSON object.
    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn object(&self) -> &Map<String, Value> {
        // `new` only makes objects; the empty map only satisfies the type.
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.value
            .as_object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// A claim by name: the whole name first (claim names may hold dots,
    /// such as `http://example.com/custom`), then as a dotted path into
    /// nested objects (`realm_access.roles`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(found) = self.object().get(name) {
            return Some(found);
        }
        if !name.contains('.') {
            return None;
        }
        name.split('.')
            .try_fold(&self.value, |value, key| value.as_object()?.get(key))
    }

    /// A claim as text, as KrakenD renders it into a URL or a header:
    /// strings as they are, whole numbers without a fraction, arrays as
    /// their items joined by commas, anything else as JSON.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(claim_text)
    }

    fn number(&self, name: &str) -> Result<Option<f64>, Invalid> {
        match self.object().get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(Invalid::NotANumber(claim_name(name))),
        }
    }

    /// `exp` in seconds since the epoch, when the token has one.
    pub fn expiry(&self) -> Option<f64> {
        self.number("exp").ok().flatten()
    }
}

fn claim_name(name: &str) -> &'static str {
    match name {
        "exp" => "exp",
        "nbf" => "nbf",
        _ => "iat",
    }
}

pub fn claim_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                Value::Number(n) => number_text(n),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if (f - f.round()).abs() <= 1e-6 && f.abs() < 9.2e18 => {
            format!("{}", f.round() as i64)
        }
        Some(f) => format!("{f:.6}"),
        None => n.to_string(),
    }
}

/// Why a verified token is not accepted (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Issuer,
    Audience,
    Expired,
    NotYetValid,
    IssuedInTheFuture,
    NotANumber(&'static str),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Issuer => f.write_str("issuer (iss) does not match"),
            Invalid::Audience => f.write_str("audience (aud) does not hold every configured one"),
            Invalid::Expired => f.write_str("token expired (exp)"),
            Invalid::NotYetValid => f.write_str("token not valid yet (nbf)"),
            Invalid::IssuedInTheFuture => f.write_str("token issued in the future (iat)"),
            Invalid::NotANumber(name) => write!(f, "\"{name}\" is not a number"),
        }
    }
}

/// Why a valid token may not call the endpoint (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Roles,
    Scopes,
}

/// KrakenD's leeway when none is configured (go-auth0 never uses less).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(1);

/// The checks of one `auth/validator`, compiled from its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub issuer: Option<String>,
    /// Every one of them must be in the token's `aud` (go-jose's rule).
    pub audience: Vec<String>,
    pub leeway: Duration,
    /// `roles_key` (default `roles`).
    pub roles_key: String,
    /// `roles_key_is_nested` (and the key has a dot and is not a URL).
    pub roles_nested: bool,
    pub roles: Vec<String>,
    pub scopes_key: Option<String>,
    pub scopes: Vec<String>,
    /// `scopes_matcher: "all"`; default any.
    pub scopes_all: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            issuer: None,
            audience: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            roles_key: "roles".to_owned(),
            roles_nested: false,
            roles: Vec::new(),
            scopes_key: None,
            scopes: Vec::new(),
            scopes_all: false,
        }
    }
}

impl Rules {
    /// The registered-claim checks (issuer, audience, times), `now` in
    /// seconds since the epoch. Times are checked as go-jose does: expired
    /// when `now - leeway > exp`, early when `now + leeway < nbf` (or `iat`).
    pub fn check(&self, claims: &Claims, now: f64) -> Result<(), Invalid> {
        let object = claims.object();
        if let Some(issuer) = &self.issuer {
            match object.get("iss") {
                Some(Value::String(iss)) if iss == issuer => {}
                _ => return Err(Invalid::Issuer),
            }
        }
        if !self.audience.is_empty() {
            let held: Vec<&str> = match object.get("aud") {
                Some(Value::String(one)) => vec![one.as_str()],
                Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !self
                .audience
                .iter()
                .all(|want| held.contains(&want.as_str()))
            {
                return Err(Invalid::Audience);
            }
        }
        self.check_times(claims, now)
    }

    /// The seconds since the epoch between which `check_times` passes (for
    /// the verified-token cache); `None` if a time claim is not a number.
    pub fn window(&self, claims: &Claims) -> Option<(f64, f64)> {
        let leeway = self.leeway.as_secs_f64();
        let from = [claims.number("nbf").ok()?, claims.number("iat").ok()?]
            .into_iter()
            .flatten()
            .map(|t| t.trunc() - leeway)
            .fold(f64::NEG_INFINITY, f64::max);
        let until = claims
            .number("exp")
            .ok()?
            .map_or(f64::INFINITY, |t| t.trunc() + leeway);
        Some((from, until))
    }

    /// Only the time checks.
    pub fn check_times(&self, claims: &Claims, now: f64) -> Result<(), Invalid> {
        let leeway = self.leeway.as_secs_f64();
        if let Some(nbf) = claims.number("nbf")?
            && now + leeway < nbf.trunc()
        {
            return Err(Invalid::NotYetValid);
        }
        if let Some(exp) = claims.number("exp")?
            && now - leeway > exp.trunc()
        {
            return Err(Invalid::Expired);
        }
        if let Some(iat) = claims.number("iat")?
            && now + leeway < iat.trunc()
        {
            return Err(Invalid::IssuedInTheFuture);
        }
        Ok(())
    }

    /// Roles, then scopes, as KrakenD checks them.
    pub fn authorize(&self, claims: &Claims) -> Result<(), Forbidden> {
        if !self.roles.is_empty() && !self.has_role(claims) {
            return Err(Forbidden::Roles);
        }
        if let Some(key) = self.scopes_key.as_deref()
            && !self.scopes.is_empty()
            && !self.has_scopes(claims, key)
        {
            return Err(Forbidden::Scopes);
        }
        Ok(())
    }

    fn has_role(&self, claims: &Claims) -> bool {
        let held = if self.roles_nested {
            nested(claims.value(), &self.roles_key)
        } else {
            claims.object().get(&self.roles_key)
        };
        self.roles.iter().any(|want| holds(held, want))
    }

    fn has_scopes(&self, claims: &Claims, key: &str) -> bool {
        let held = if key.contains('.') {
            nested(claims.value(), key)
        } else {
            claims.object().get(key)
        };
        if self.scopes_all {
            self.scopes.iter().all(|want| holds(held, want))
        } else {
            self.scopes.iter().any(|want| holds(held, want))
        }
    }
}

fn nested<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(value, |value, key| value.as_object()?.get(key))
}

/// Whether a roles or scopes claim (an array of strings, or one string of
/// space-separated words, as OAuth's `scope`) holds `want`.
fn holds(value: Option<&Value>, want: &str) -> bool {
    match value {
        Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(want)),
        Some(Value::String(text)) => text.split(' ').any(|word| word == want),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        match serde_json::from_str(json).unwrap() {
            Value::Object(map) => Claims::new(map),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn lookup_whole_name_then_path() {
        let c = claims(
            r#"{"sub": "u1", "http://example.com/custom": "foo", "a": {"b": {"c": 7}}, "a.b": "flat", "n": 2.5, "l": ["x", 1]}"#,
        );
        assert_eq!(c.text("sub").as_deref(), Some("u1"));
        assert_eq!(c.text("http://example.com/custom").as_deref(), Some("foo"));
        assert_eq!(c.text("a.b").as_deref(), Some("flat"));
        assert_eq!(c.text("a.b.c").as_deref(), Some("7"));
        assert_eq!(c.text("n").as_deref(), Some("2.500000"));
        assert_eq!(c.text("l").as_deref(), Some("x,1"));
        assert_eq!(c.text("a.x"), None);
        assert_eq!(c.text("missing"), None);
    }

    #[test]
    fn registered_claims() {
        let rules = Rules {
            issuer: Some("https://idp".into()),
            audience: vec!["api".into(), "web".into()],
            ..Rules::default()
        };
        let now = 1_000_000.0;
        let ok =
            r#"{"iss": "https://idp", "aud": ["web", "api", "x"], "exp": 1000000, "nbf": 1000001}"#;
        assert_eq!(rules.check(&claims(ok), now), Ok(()));
        let cases = [
            (
                r#"{"iss": "other", "aud": ["web", "api"]}"#,
                Invalid::Issuer,
            ),
            (r#"{"aud": ["web", "api"]}"#, Invalid::Issuer),
            (r#"{"iss": "https://idp", "aud": "api"}"#, Invalid::Audience),
            (
                r#"{"iss": "https://idp", "aud": ["web", "api"], "exp": 999998}"#,
                Invalid::Expired,
            ),
            (
                r#"{"iss": "https://idp", "aud": ["web", "api"], "nbf": 1000002}"#,
                Invalid::NotYetValid,
            ),
            (
                r#"{"iss": "https://idp", "aud": ["web", "api"], "iat": 1000005}"#,
                Invalid::IssuedInTheFuture,
            ),
            (
                r#"{"iss": "https://idp", "aud": ["web", "api"], "exp": "soon"}"#,
                Invalid::NotANumber("exp"),
            ),
        ];
        for (json, want) in cases {
            assert_eq!(rules.check(&claims(json), now), Err(want), "{json}");
        }
        let window = rules.window(&claims(r#"{"nbf": 100, "iat": 90, "exp": 200.7}"#));
        assert_eq!(window, Some((99.0, 201.0)));
        assert_eq!(
            rules.window(&claims("{}")),
            Some((f64::NEG_INFINITY, f64::INFINITY))
        );
        assert_eq!(rules.window(&claims(r#"{"exp": "x"}"#)), None);
    }

    #[test]
    fn roles_and_scopes() {
        let rules = Rules {
            roles: vec!["admin".into(), "ops".into()],
            roles_key: "realm.roles".into(),
            roles_nested: true,
            scopes_key: Some("scope".into()),
            scopes: vec!["read".into(), "write".into()],
            scopes_all: true,
            ..Rules::default()
        };
        let ok = claims(r#"{"realm": {"roles": ["ops"]}, "scope": "write read x"}"#);
        assert_eq!(rules.authorize(&ok), Ok(()));
        let no_role = claims(r#"{"realm": {"roles": ["user"]}, "scope": "write read"}"#);
        assert_eq!(rules.authorize(&no_role), Err(Forbidden::Roles));
        let some_scopes = claims(r#"{"realm": {"roles": "x ops"}, "scope": ["read"]}"#);
        assert_eq!(rules.authorize(&some_scopes), Err(Forbidden::Scopes));
        let any = Rules {
            scopes_all: false,
            ..rules.clone()
        };
        assert_eq!(any.authorize(&some_scopes), Ok(()));
        // Not nested: the dotted key is one claim name.
        let flat = Rules {
            roles_nested: false,
            ..any
        };
        assert_eq!(flat.authorize(&some_scopes), Err(Forbidden::Roles));
    }
}
