//! The older names of KrakenD's components, and what cuttle does with them.
//!
//! KrakenD CE still honours the pre-v2 namespace of each of its components:
//! krakend-ce's `cmd/krakend-ce/main.go` fills lura's
//! `config.ExtraConfigAlias` from a table, and lura's
//! `ExtraConfig.Normalize` (`config/config.go`) renames the keys of the
//! root, every endpoint's and every backend's `extra_config` before any
//! component reads them. Both names therefore configure the same component,
//! and when both are present in one `extra_config` the current name wins
//! (Normalize writes its value over the old key).
//!
//! A name that looks like one of KrakenD's old component paths but is not in
//! that table (`github.com/devopsfaith/krakend-ratelimit/juju/router`, or an
//! old name spelt with the other of `github.com` / `github_com`) is ignored by
//! KrakenD: the endpoint is served without the component. cuttle refuses such
//! a name instead, naming the current one, so that a protection the author
//! meant is never dropped in silence.

use serde_json::Value;

use super::error::Problem;
use super::raw::ExtraConfig;

/// krakend-ce's `aliases` (cmd/krakend-ce/main.go, v2.13): old name ->
/// current namespace. Spelt exactly as there: some old names use
/// `github.com`, others `github_com`, and KrakenD matches them verbatim.
const KRAKEND_CE_ALIASES: [(&str, &str); 36] = [
    (
        "github_com/devopsfaith/krakend/transport/http/server/handler",
        "plugin/http-server",
    ),
    (
        "github.com/devopsfaith/krakend/transport/http/client/executor",
        "plugin/http-client",
    ),
    (
        "github.com/devopsfaith/krakend/proxy/plugin",
        "plugin/req-resp-modifier",
    ),
    ("github.com/devopsfaith/krakend/proxy", "proxy"),
    ("github_com/luraproject/lura/router/gin", "router"),
    ("github.com/devopsfaith/krakend-httpcache", "qos/http-cache"),
    (
        "github.com/devopsfaith/krakend-circuitbreaker/gobreaker",
        "qos/circuit-breaker",
    ),
    (
        "github.com/devopsfaith/krakend-oauth2-clientcredentials",
        "auth/client-credentials",
    ),
    (
        "github.com/devopsfaith/krakend-jose/validator",
        "auth/validator",
    ),
    ("github.com/devopsfaith/krakend-jose/signer", "auth/signer"),
    ("github_com/devopsfaith/bloomfilter", "auth/revoker"),
    (
        "github_com/devopsfaith/krakend-botdetector",
        "security/bot-detector",
    ),
    ("github_com/devopsfaith/krakend-httpsecure", "security/http"),
    ("github_com/devopsfaith/krakend-cors", "security/cors"),
    ("github.com/devopsfaith/krakend-cel", "validation/cel"),
    (
        "github.com/devopsfaith/krakend-jsonschema",
        "validation/json-schema",
    ),
    ("github.com/devopsfaith/krakend-amqp/agent", "async/amqp"),
    (
        "github.com/devopsfaith/krakend-amqp/consume",
        "backend/amqp/consumer",
    ),
    (
        "github.com/devopsfaith/krakend-amqp/produce",
        "backend/amqp/producer",
    ),
    ("github.com/devopsfaith/krakend-lambda", "backend/lambda"),
    (
        "github.com/devopsfaith/krakend-pubsub/publisher",
        "backend/pubsub/publisher",
    ),
    (
        "github.com/devopsfaith/krakend-pubsub/subscriber",
        "backend/pubsub/subscriber",
    ),
    (
        "github.com/devopsfaith/krakend/transport/http/client/graphql",
        "backend/graphql",
    ),
    ("github.com/devopsfaith/krakend/http", "backend/http"),
    ("github_com/devopsfaith/krakend-gelf", "telemetry/gelf"),
    (
        "github_com/devopsfaith/krakend-gologging",
        "telemetry/logging",
    ),
    (
        "github_com/devopsfaith/krakend-logstash",
        "telemetry/logstash",
    ),
    (
        "github_com/devopsfaith/krakend-metrics",
        "telemetry/metrics",
    ),
    ("github_com/letgoapp/krakend-influx", "telemetry/influx"),
    (
        "github_com/devopsfaith/krakend-opencensus",
        "telemetry/opencensus",
    ),
    (
        "github.com/devopsfaith/krakend-lua/router",
        "modifier/lua-endpoint",
    ),
    (
        "github.com/devopsfaith/krakend-lua/proxy",
        "modifier/lua-proxy",
    ),
    (
        "github.com/devopsfaith/krakend-lua/proxy/backend",
        "modifier/lua-backend",
    ),
    ("github.com/devopsfaith/krakend-martian", "modifier/martian"),
    // Not in krakend-ce's table: KrakenD 1.x's rate limiters, which
    // krakend-ratelimit v3 no longer reads under these names. Listed here
    // only to name the replacement in the refusal (see `LEGACY_ONLY`).
    (
        "github.com/devopsfaith/krakend-ratelimit/juju/router",
        "qos/ratelimit/router",
    ),
    (
        "github.com/devopsfaith/krakend-ratelimit/juju/proxy",
        "qos/ratelimit/proxy",
    ),
];

/// How many entries at the end of `KRAKEND_CE_ALIASES` KrakenD CE does not
/// accept: their names are refused, with the current one as the fix.
const LEGACY_ONLY: usize = 2;

/// Prefixes of KrakenD's old component paths (Go import paths, with the
/// dot of `github.com` kept or replaced by `_`).
const LEGACY_PREFIXES: [&str; 6] = [
    "github.com/devopsfaith/",
    "github_com/devopsfaith/",
    "github.com/luraproject/",
    "github_com/luraproject/",
    "github.com/letgoapp/",
    "github_com/letgoapp/",
];

/// What a namespace as written in a file stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// A current name, or an old one KrakenD CE maps onto this current one.
    Current(&'a str),
    /// An old component path KrakenD CE no longer reads (it serves the
    /// endpoint without it); `Some` names the current namespace.
    Unread(Option<&'static str>),
}

/// The namespace `written` configures in KrakenD CE.
pub fn resolve(written: &str) -> Name<'_> {
    let accepted = &KRAKEND_CE_ALIASES[..KRAKEND_CE_ALIASES.len() - LEGACY_ONLY];
    if let Some((_, current)) = accepted.iter().find(|(old, _)| *old == written) {
        return Name::Current(current);
    }
    if !LEGACY_PREFIXES.iter().any(|p| written.starts_with(p)) {
        return Name::Current(written);
    }
    // The same path with `github.com` and `github_com` swapped, or one of
    // the names only KrakenD 1.x read.
    let swapped = match written.split_once('/') {
        Some(("github.com", rest)) => format!("github_com/{rest}"),
        Some(("github_com", rest)) => format!("github.com/{rest}"),
        _ => String::new(),
    };
    Name::Unread(
        KRAKEND_CE_ALIASES
            .iter()
            .find(|(old, _)| *old == swapped || *old == written)
            .map(|(_, current)| *current),
    )
}

/// One `extra_config` entry, under the namespace KrakenD reads it as.
pub struct Entry<'a> {
    /// The current namespace.
    pub namespace: &'a str,
    /// The key as written in the file (for JSON paths in messages).
    pub written: &'a str,
    pub value: &'a Value,
}

/// What an `extra_config` object configures, keyed by current namespace.
/// An old name whose current name is also present is left out (the
/// current one wins, as in lura's `Normalize`) and returned as superseded;
/// an old name KrakenD no longer reads is returned as a problem for
/// `parent.written` (the caller decides whether that refuses the file).
pub fn entries<'a>(extra: Option<&'a ExtraConfig>, parent: &str) -> Resolved<'a> {
    let mut resolved = Resolved::default();
    let Some(extra) = extra else {
        return resolved;
    };
    for (written, value) in extra {
        match resolve(written) {
            Name::Current(namespace) => {
                if namespace != written && extra.contains_key(namespace) {
                    resolved
                        .superseded
                        .push(format!("{parent}.{written} (superseded by \"{namespace}\")"));
                    continue;
                }
                resolved.entries.push(Entry {
                    namespace,
                    written,
                    value,
                });
            }
            // Only observing components are safe to drop, as KrakenD does.
            Name::Unread(Some(current)) if current.starts_with("telemetry/") => resolved
                .superseded
                .push(format!("{parent}.{written} (not read by KrakenD CE either; the current name is \"{current}\")")),
            Name::Unread(current) => resolved.unread.push(unread(
                format!("{parent}.{written}"),
                written,
                current,
            )),
        }
    }
    resolved
}

#[derive(Default)]
pub struct Resolved<'a> {
    pub entries: Vec<Entry<'a>>,
    /// JSON paths of old names that the current name in the same object
    /// overrides, or of old telemetry names KrakenD CE does not read:
    /// warnings.
    pub superseded: Vec<String>,
    /// Old names KrakenD CE would ignore: refusals.
    pub unread: Vec<Problem>,
}

fn unread(at: String, written: &str, current: Option<&str>) -> Problem {
    let fix = match current {
        Some(current) => format!("rename it to \"{current}\""),
        None => {
            "use the component's current namespace (krakend.io's documentation names it)".to_owned()
        }
    };
    Problem::new(
        at,
        format!(
            "\"{written}\" is an old KrakenD component name that KrakenD CE no longer reads (it would serve this without it), so cuttle refuses it: {fix}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_krakend_ce_lists_resolves_to_its_namespace() {
        let accepted = &KRAKEND_CE_ALIASES[..KRAKEND_CE_ALIASES.len() - LEGACY_ONLY];
        assert_eq!(accepted.len(), 34, "krakend-ce v2.13 lists 34 aliases");
        for (old, current) in accepted {
            assert_eq!(resolve(old), Name::Current(current), "{old}");
        }
    }

    #[test]
    fn current_names_and_other_namespaces_are_themselves() {
        for name in ["auth/validator", "proxy", "telemetry/whatever", "@comment"] {
            assert_eq!(resolve(name), Name::Current(name));
        }
    }

    #[test]
    fn old_names_krakend_no_longer_reads_name_their_replacement() {
        let cases = [
            (
                "github.com/devopsfaith/krakend-ratelimit/juju/router",
                Some("qos/ratelimit/router"),
            ),
            (
                "github.com/devopsfaith/krakend-ratelimit/juju/proxy",
                Some("qos/ratelimit/proxy"),
            ),
            // The other spelling of an accepted name is not accepted.
            (
                "github_com/devopsfaith/krakend-jose/validator",
                Some("auth/validator"),
            ),
            ("github.com/devopsfaith/krakend-cors", Some("security/cors")),
            ("github.com/devopsfaith/krakend-unheard-of", None),
        ];
        for (written, current) in cases {
            assert_eq!(resolve(written), Name::Unread(current), "{written}");
        }
    }

    #[test]
    fn the_current_name_wins_over_its_old_name_in_one_object() {
        let extra: ExtraConfig = serde_json::from_str(
            r#"{"github.com/devopsfaith/krakend-jose/validator": {"alg": "HS256"},
                "auth/validator": {"alg": "RS256"},
                "github.com/devopsfaith/krakend-cel": [{"check_expr": "true"}]}"#,
        )
        .unwrap();
        let resolved = entries(Some(&extra), "endpoints[0].extra_config");
        let names: Vec<_> = resolved
            .entries
            .iter()
            .map(|e| (e.namespace, e.written))
            .collect();
        assert!(names.contains(&("auth/validator", "auth/validator")));
        assert!(names.contains(&("validation/cel", "github.com/devopsfaith/krakend-cel")));
        assert_eq!(names.len(), 2);
        assert_eq!(
            resolved.superseded,
            [
                "endpoints[0].extra_config.github.com/devopsfaith/krakend-jose/validator (superseded by \"auth/validator\")"
            ]
        );
        assert!(resolved.unread.is_empty());
    }
}
