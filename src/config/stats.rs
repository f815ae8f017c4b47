//! The root `telemetry/metrics` namespace (krakend-metrics, older name
//! `github_com/devopsfaith/krakend-metrics`): KrakenD's legacy `/__stats`
//! JSON on a port of its own (read by `crate::metrics::stats`).
//!
//! KrakenD reads it in krakend-metrics `metrics.go` `ConfigGetter`: a
//! `collection_time` that does not parse keeps the default (a minute), one
//! that is not a string panics, a zero one panics in `time.NewTicker`; a
//! `listen_address` that is not a string keeps `":8090"`; a flag that is
//! not a boolean is false. cuttle refuses what KrakenD would silently
//! replace or crash on, and warns about a flag it reads as false.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use super::duration::parse_go_duration;
use super::error::{BuildResult, Problem};

pub const NAMESPACE: &str = "telemetry/metrics";

/// krakend-metrics' defaults (`metrics.go`).
pub const DEFAULT_COLLECTION_TIME: Duration = Duration::from_secs(60);
pub const DEFAULT_LISTEN_ADDRESS: &str = ":8090";

/// `telemetry/metrics` as built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSettings {
    /// The namespace's JSON path, for messages.
    pub at: String,
    /// `collection_time`: the window histograms and the connection
    /// counters are kept over before they start again.
    pub collection_time: Duration,
    /// `listen_address`; port 0 takes an ephemeral port (as Go's listener).
    pub listen: SocketAddr,
    /// The layers measured (`*_disabled` off).
    pub router: bool,
    pub proxy: bool,
    pub backend: bool,
    /// `endpoint_disabled` off: `/__stats` is served.
    pub endpoint: bool,
}

/// Builds the namespace found at `at`; flags that are not booleans (read
/// as false by KrakenD) are warned about in `warnings`.
pub fn build(value: &Value, at: &str, warnings: &mut Vec<Problem>) -> BuildResult<StatsSettings> {
    let Value::Object(settings) = value else {
        // krakend-metrics' ConfigGetter: no object, no metrics at all.
        return Err(Problem::new(
            at,
            "must be an object, e.g. {} for the defaults (KrakenD would start without /__stats)",
        ));
    };
    let collection_time = match settings.get("collection_time") {
        None => DEFAULT_COLLECTION_TIME,
        Some(Value::String(text)) => match parse_go_duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                return Err(Problem::new(
                    format!("{at}.collection_time"),
                    "must be above zero (KrakenD's ticker panics on 0); write e.g. \"60s\"",
                ));
            }
            Err(e) => {
                return Err(Problem::new(
                    format!("{at}.collection_time"),
                    format!(
                        "\"{text}\" is not a duration ({e}); KrakenD would silently use one minute; write e.g. \"60s\""
                    ),
                ));
            }
        },
        Some(_) => {
            return Err(Problem::new(
                format!("{at}.collection_time"),
                "must be a duration string (KrakenD panics on any other type); write e.g. \"60s\"",
            ));
        }
    };
    let listen = match settings.get("listen_address") {
        None => listen_address(DEFAULT_LISTEN_ADDRESS, at)?,
        Some(Value::String(text)) => listen_address(text, at)?,
        Some(_) => {
            return Err(Problem::new(
                format!("{at}.listen_address"),
                "must be a string such as \":8090\" or \"127.0.0.1:8090\" (KrakenD would silently listen on \":8090\")",
            ));
        }
    };
    let mut flag = |name: &str| match settings.get(name) {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => {
            warnings.push(Problem::new(
                format!("{at}.{name}"),
                format!("{other} is not a boolean, so it is read as false (as KrakenD does); write true or false"),
            ));
            false
        }
    };
    Ok(StatsSettings {
        at: at.to_owned(),
        collection_time,
        listen,
        router: !flag("router_disabled"),
        proxy: !flag("proxy_disabled"),
        backend: !flag("backend_disabled"),
        endpoint: !flag("endpoint_disabled"),
    })
}

/// Go's `host:port` listen address: an empty host is every interface,
/// `localhost` the loopback; other names are refused (cuttle resolves no
/// name to listen on).
fn listen_address(text: &str, at: &str) -> BuildResult<SocketAddr> {
    let problem = |why: &str| {
        Problem::new(
            format!("{at}.listen_address"),
            format!(
                "\"{text}\" {why}; write e.g. \":8090\" (every interface) or \"127.0.0.1:8090\""
            ),
        )
    };
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(problem("has no port"));
    };
    let port: u16 = port.parse().map_err(|_| problem("has no numeric port"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => host
            .parse()
            .map_err(|_| problem("does not name an IP address"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// The stats port must not be the gateway's nor a Prometheus exporter's
/// (port 0, an ephemeral one, clashes with nothing here; `run` compares
/// the bound ports).
pub fn check_ports(
    stats: &StatsSettings,
    service_port: u16,
    telemetry: Option<&super::Telemetry>,
) -> BuildResult<()> {
    let port = stats.listen.port();
    if port == 0 {
        return Ok(());
    }
    let at = format!("{}.listen_address", stats.at);
    if port == service_port {
        return Err(Problem::new(
            at,
            format!(
                "port {port} is also the gateway's \"port\"; give /__stats a port of its own (KrakenD's default is 8090)"
            ),
        ));
    }
    if let Some(exporter) = telemetry
        .into_iter()
        .flat_map(|t| &t.exporters)
        .find(|e| e.port == port)
    {
        return Err(Problem::new(
            at,
            format!(
                "port {port} is also the port of the telemetry/opentelemetry Prometheus exporter \"{}\"; give each its own port",
                exporter.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn built(value: Value) -> Result<StatsSettings, Problem> {
        build(&value, "extra_config.telemetry/metrics", &mut Vec::new())
    }

    #[test]
    fn defaults_are_krakend_metrics_ones() {
        let s = built(json!({})).unwrap();
        assert_eq!(s.collection_time, Duration::from_secs(60));
        assert_eq!(s.listen, "0.0.0.0:8090".parse().unwrap());
        assert!(s.router && s.proxy && s.backend && s.endpoint);
    }

    #[test]
    fn addresses_are_read_as_go_listens() {
        for (text, want) in [
            (":9000", "0.0.0.0:9000"),
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("localhost:81", "127.0.0.1:81"),
            ("[::1]:82", "[::1]:82"),
        ] {
            let s = built(json!({"listen_address": text})).unwrap();
            assert_eq!(s.listen, want.parse().unwrap(), "{text}");
        }
        for bad in ["8090", "example.com:80", ":http", ""] {
            let e = built(json!({"listen_address": bad})).unwrap_err();
            assert_eq!(
                e.at, "extra_config.telemetry/metrics.listen_address",
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_collection_times_are_refused_with_their_path() {
        for bad in [json!("soon"), json!("0s"), json!(60)] {
            let e = built(json!({"collection_time": bad})).unwrap_err();
            assert_eq!(e.at, "extra_config.telemetry/metrics.collection_time");
        }
        let s = built(json!({"collection_time": "1500ms"})).unwrap();
        assert_eq!(s.collection_time, Duration::from_millis(1500));
    }

    #[test]
    fn flags_drop_layers_and_loose_ones_are_false_with_a_warning() {
        let mut warnings = Vec::new();
        let s = build(
            &json!({"proxy_disabled": true, "router_disabled": "true", "endpoint_disabled": true}),
            "x",
            &mut warnings,
        )
        .unwrap();
        assert!(!s.proxy && s.router && s.backend && !s.endpoint);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].at, "x.router_disabled");
    }
}
