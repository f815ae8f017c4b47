//! `backend/pubsub/publisher` and `backend/pubsub/subscriber` (KrakenD
//! CE's krakend-pubsub, `client.go`, on Go CDK's `pubsub`): a backend that
//! publishes the request body to a topic, or answers with the next message
//! of a subscription. Only Go CDK's `nats://` driver (`natspubsub`) is
//! implemented; its settings are read here and called by
//! `upstream::kind::nats`.
//!
//! krakend-pubsub opens `host[0]` + `topic_url` (or `subscription_url`) as
//! one URL, e.g. `"nats://"` + `"mysubject"`; the NATS server comes from
//! the environment (`NATS_SERVER_URL`), not from the file.

use serde::Deserialize;
use serde_json::Value;

use super::error::{BuildResult, Problem};

pub const PUBLISHER: &str = "backend/pubsub/publisher";
pub const SUBSCRIBER: &str = "backend/pubsub/subscriber";

/// A `backend/pubsub/...` namespace as found in a backend's extra_config.
#[derive(Debug, Clone)]
pub struct PubSub {
    pub subscribe: bool,
    /// `topic_url` or `subscription_url`, as written.
    pub url: String,
    /// The namespace's JSON path.
    pub at: String,
}

/// What a `nats://` pubsub backend does (`upstream::kind::nats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// `host[0]` + the namespace's URL, for messages.
    pub url: String,
    /// The NATS subject: the URL's host and path joined (natspubsub
    /// `path.Join(u.Host, u.Path)`).
    pub subject: String,
    pub role: Role,
    /// `?natsv2`: the request's headers travel as NATS message headers
    /// (natspubsub `encodeMessageV2`).
    pub headers: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Publishes the request body; answers 200 with no data.
    Publish,
    /// Answers with the next message's body; `queue` is `?queue=`: a NATS
    /// queue group shared with other subscribers.
    Subscribe { queue: Option<String> },
}

#[derive(Deserialize)]
struct RawPublisher {
    topic_url: Option<String>,
}

#[derive(Deserialize)]
struct RawSubscriber {
    subscription_url: Option<String>,
}

/// Reads `backend/pubsub/publisher` (`subscribe` false) or
/// `backend/pubsub/subscriber` at `at`.
pub fn read(value: &Value, subscribe: bool, at: &str) -> BuildResult<PubSub> {
    let (url, key) = if subscribe {
        let raw: RawSubscriber = super::extra::decode(value, at)?;
        (raw.subscription_url, "subscription_url")
    } else {
        let raw: RawPublisher = super::extra::decode(value, at)?;
        (raw.topic_url, "topic_url")
    };
    let url = url.filter(|u| !u.is_empty()).ok_or_else(|| {
        Problem::new(
            format!("{at}.{key}"),
            format!(
                "missing: name the NATS subject, e.g. \"{key}\": \"mysubject\" with \"host\": [\"nats://\"]"
            ),
        )
    })?;
    Ok(PubSub {
        subscribe,
        url,
        at: at.to_owned(),
    })
}

/// The settings of a pubsub backend whose `host` list is `hosts` (the
/// backend's `at`). krakend-pubsub uses the first host only.
pub fn settings(found: &PubSub, hosts: &[String], at: &str) -> BuildResult<NatsSettings> {
    let key = if found.subscribe {
        "subscription_url"
    } else {
        "topic_url"
    };
    let host = hosts.first().map_or("", String::as_str);
    let url = format!("{host}{}", found.url);
    let refuse = |message: String| Problem::new(format!("{}.{key}", found.at), message);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Problem::new(
            format!("{at}.host"),
            format!(
                "\"{url}\" (host + {key}) has no scheme: write \"host\": [\"nats://\"] and the subject in {key}"
            ),
        ));
    };
    if !scheme.eq_ignore_ascii_case("nats") {
        return Err(Problem::new(
            format!("{at}.host"),
            format!(
                "\"{url}\": cuttle implements the \"nats://\" pubsub driver only{}; write \"host\": [\"nats://\"] with the subject in {key}",
                refused_scheme_reason(scheme)
            ),
        ));
    }
    // Go's url.Parse: a fragment is cut off, the query read apart.
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (target, query) = rest.split_once('?').unwrap_or((rest, ""));
    let subject = subject(target).map_err(|why| refuse(format!("\"{url}\": {why}")))?;
    if !found.subscribe && subject.split('.').any(|t| t == "*" || t == ">") {
        return Err(refuse(format!(
            "\"{url}\": a message is published to one subject; \"*\" and \">\" only match subjects in a subscription"
        )));
    }
    let mut headers = false;
    let mut queue = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .map_or((pair, None), |(n, v)| (n, Some(v)));
        if pair.contains(['%', '+', ';']) {
            return Err(refuse(format!(
                "\"{url}\": query \"{pair}\" has an escape, '+' or ';', which cuttle does not read; write natsv2 or queue=name plainly"
            )));
        }
        match name.to_ascii_lowercase().as_str() {
            "natsv2" => {
                // natspubsub accepts the name in any case but reads only
                // `natsv2` itself (`queryUseV2`).
                if name == "natsv2" {
                    if headers {
                        return Err(refuse(format!(
                            "\"{url}\": natsv2 is given twice (Go CDK refuses several values)"
                        )));
                    }
                    headers = go_bool(value.unwrap_or("")).ok_or_else(|| {
                        refuse(format!(
                            "\"{url}\": natsv2 must be empty or a boolean (true, false, 1, 0, t, f)"
                        ))
                    })?;
                }
            }
            "queue" if found.subscribe => {
                let value = value.unwrap_or("");
                if queue.is_some() || value.is_empty() {
                    return Err(refuse(format!(
                        "\"{url}\": queue takes one group name, e.g. ?queue=workers"
                    )));
                }
                queue = Some(value.to_owned());
            }
            _ => {
                return Err(refuse(format!(
                    "\"{url}\": Go CDK's nats driver refuses the query parameter \"{name}\" (natsv2{} only)",
                    if found.subscribe { " and queue" } else { "" }
                )));
            }
        }
    }
    Ok(NatsSettings {
        url,
        subject,
        role: if found.subscribe {
            Role::Subscribe { queue }
        } else {
            Role::Publish
        },
        headers,
    })
}

/// Why another Go CDK driver is not there.
fn refused_scheme_reason(scheme: &str) -> &'static str {
    match scheme.to_ascii_lowercase().as_str() {
        "kafka" => {
            " (Kafka needs a client that builds without system libraries and a broker to test it against; see docs/pubsub.md)"
        }
        "gcppubsub" | "awssns" | "awssqs" | "azuresb" => {
            " (the cloud providers' drivers are not implemented)"
        }
        "rabbit" => " (RabbitMQ through Go CDK is not implemented; see backend/amqp)",
        "mem" => " (Go CDK's in-process topics are not implemented)",
        "http" | "https" => {
            " (with an http host, KrakenD fails to open the topic and calls the backend over HTTP instead)"
        }
        _ => "",
    }
}

/// `path.Join(host, path)` of the URL's part after `nats://`, checked as
/// a NATS subject: no whitespace, no empty token.
fn subject(target: &str) -> Result<String, String> {
    if target.contains(['%', '@']) {
        return Err("write the subject plainly (no '%' escapes, no user@)".to_owned());
    }
    let (host, path) = target.split_once('/').unwrap_or((target, ""));
    if host.contains(':') {
        return Err("the part after nats:// is the subject, not a server address: the server comes from the environment variable NATS_SERVER_URL".to_owned());
    }
    // path.Join: the non-empty parts, cleaned of "." and "..".
    let mut parts: Vec<&str> = Vec::new();
    for part in std::iter::once(host).chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let subject = parts.join("/");
    if subject.is_empty() {
        return Err("no subject: write it after nats://, e.g. nats://mysubject".to_owned());
    }
    if subject.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("a NATS subject has no spaces or control characters".to_owned());
    }
    if subject.split('.').any(str::is_empty) {
        return Err(
            "a NATS subject has no empty token (no leading, trailing or double '.')".to_owned(),
        );
    }
    Ok(subject)
}

/// Go's `strconv.ParseBool`; empty is true (natspubsub: `?natsv2`).
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "" | "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(subscribe: bool, url: &str) -> PubSub {
        PubSub {
            subscribe,
            url: url.to_owned(),
            at: "b.extra_config.ns".to_owned(),
        }
    }

    fn ok(subscribe: bool, host: &str, url: &str) -> NatsSettings {
        settings(&found(subscribe, url), &[host.to_owned()], "b").unwrap()
    }

    fn err(subscribe: bool, host: &str, url: &str) -> Problem {
        settings(&found(subscribe, url), &[host.to_owned()], "b").unwrap_err()
    }

    #[test]
    fn host_and_url_are_one_url_whose_host_and_path_are_the_subject() {
        let s = ok(false, "nats://", "mysubject");
        assert_eq!(s.subject, "mysubject");
        assert_eq!(s.url, "nats://mysubject");
        assert_eq!(s.role, Role::Publish);
        assert!(!s.headers);
        assert_eq!(ok(false, "NATS://", "a.b").subject, "a.b");
        assert_eq!(ok(false, "nats://", "a//b/./c/../d/").subject, "a/b/d");
        assert_eq!(ok(false, "", "nats://orders").subject, "orders");
        assert_eq!(ok(true, "nats://", "orders.*").subject, "orders.*");
        assert_eq!(ok(true, "nats://", "orders.>#frag").subject, "orders.>");
    }

    #[test]
    fn query_parameters_are_natspubsubs() {
        assert!(ok(false, "nats://", "s?natsv2").headers);
        assert!(ok(false, "nats://", "s?natsv2=true").headers);
        assert!(!ok(false, "nats://", "s?natsv2=0").headers);
        // Accepted in any case, read only as written.
        assert!(!ok(false, "nats://", "s?NATSV2").headers);
        assert_eq!(
            ok(true, "nats://", "s?queue=workers&natsv2").role,
            Role::Subscribe {
                queue: Some("workers".into())
            }
        );
        for (subscribe, url) in [
            (false, "s?queue=workers"),
            (true, "s?other=1"),
            (false, "s?natsv2=maybe"),
            (true, "s?queue="),
            (true, "s?queue=a&queue=b"),
            (false, "s?natsv2=%74rue"),
        ] {
            let problem = err(subscribe, "nats://", url);
            assert_eq!(
                problem.at,
                if subscribe {
                    "b.extra_config.ns.subscription_url"
                } else {
                    "b.extra_config.ns.topic_url"
                },
                "{url}"
            );
        }
    }

    #[test]
    fn other_schemes_and_bad_subjects_are_refused_with_their_path() {
        for host in [
            "kafka://",
            "gcppubsub://",
            "mem://",
            "rabbit://",
            "http://127.0.0.1:9",
        ] {
            let problem = err(false, host, "s");
            assert_eq!(problem.at, "b.host", "{host}");
            assert!(problem.message.contains("nats://"), "{}", problem.message);
        }
        assert!(
            err(false, "kafka://", "s")
                .message
                .contains("docs/pubsub.md")
        );
        assert_eq!(err(false, "nats:", "s").at, "b.host");
        for url in [
            "", "a b", "a..b", ".a", "a.", "h:4222/s", "u@s", "a%2Eb", "a.*", "a.>",
        ] {
            assert_eq!(
                err(false, "nats://", url).at,
                "b.extra_config.ns.topic_url",
                "{url:?}"
            );
        }
    }

    #[test]
    fn a_missing_url_names_its_key() {
        let problem = read(&serde_json::json!({}), true, "b.extra_config.ns").unwrap_err();
        assert_eq!(problem.at, "b.extra_config.ns.subscription_url");
        let problem = read(&serde_json::json!({"topic_url": 3}), false, "b.x").unwrap_err();
        assert!(problem.at.starts_with("b.x"), "{problem:?}");
    }
}
