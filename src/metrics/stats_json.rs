//! The body of `GET /__stats`: what rcrowley/go-metrics' `exp` handler
//! (`exp/exp.go`, which krakend-metrics `mux/metrics.go` `NewExpHandler`
//! serves) writes: Go's `expvar` listing, one `"name": value` a line in
//! name order, with `cmdline` and `memstats` (Go's own variables) beside
//! krakend-metrics' registry flattened to names: a counter or gauge is an
//! integer, a histogram ten numbers (`.count`, `.min`, `.max`, `.mean`,
//! `.std-dev`, `.50-percentile` ... `.999-percentile`).
//!
//! Names as krakend-metrics registers them (`router.go`, `proxy.go`,
//! `gin/metrics.go`): `krakend.router.response.<endpoint>.status.<code>.count`,
//! `krakend.router.response.<endpoint>.{size,time}`,
//! `krakend.proxy.{requests,latency}.layer.{pipe,backend}.name.<name>.complete.<bool>.error.<bool>`,
//! `krakend.router.{connected,disconnected}[-total|-gauge]`. Endpoints
//! (and backends) that share a name share its figures, as they share the
//! registry entry in KrakenD.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::render::route_label;
use super::sample::Sample;
use super::stats::{LayerStats, OUTCOMES, RouterStats, StatsFigures, add_layers};
use crate::config::{Config, StatsSettings};

/// go-metrics `exp.go` `publishHistogram`.
const PERCENTILES: [(f64, &str); 5] = [
    (0.5, "50-percentile"),
    (0.75, "75-percentile"),
    (0.95, "95-percentile"),
    (0.99, "99-percentile"),
    (0.999, "999-percentile"),
];

pub fn render(config: &Config, settings: &StatsSettings, stats: &StatsFigures, out: &mut String) {
    let mut vars = Vars::default();
    let args: Vec<String> = std::env::args().collect();
    vars.raw(
        "cmdline".into(),
        serde_json::to_string(&args).unwrap_or_else(|_| "[]".into()),
    );
    let status = ProcStatus::read();
    vars.raw("memstats".into(), memstats(&status));
    let c = &stats.connections;
    for (name, value) in [
        ("connected", c.connected),
        ("disconnected", c.disconnected),
        ("connected-total", c.connected_total),
        ("disconnected-total", c.disconnected_total),
        ("connected-gauge", c.connected_gauge),
        ("disconnected-gauge", c.disconnected_gauge),
    ] {
        vars.int(format!("krakend.router.{name}"), value);
    }
    if settings.router {
        let mut by_name: BTreeMap<String, RouterStats> = BTreeMap::new();
        for (endpoint, figures) in config.endpoints.iter().zip(&stats.router) {
            let sum = by_name
                .entry(route_label(&endpoint.path, false))
                .or_default();
            for &(status, n) in &figures.statuses {
                match sum.statuses.iter_mut().find(|(s, _)| *s == status) {
                    Some((_, m)) => *m += n,
                    None => sum.statuses.push((status, n)),
                }
            }
            sum.size.add(&figures.size);
            sum.time.add(&figures.time);
        }
        for (name, r) in by_name {
            let base = format!("krakend.router.response.{name}");
            // Registered with the endpoint and never counted into.
            vars.int(format!("{base}.status"), 0);
            for (status, n) in r.statuses {
                vars.int(format!("{base}.status.{status}.count"), n);
            }
            vars.histogram(&format!("{base}.size"), &r.size);
            vars.histogram(&format!("{base}.time"), &r.time);
        }
    }
    if settings.proxy {
        let mut by_name: BTreeMap<String, [LayerStats; 4]> = BTreeMap::new();
        for (endpoint, figures) in config.endpoints.iter().zip(&stats.proxy) {
            add_layers(
                by_name
                    .entry(route_label(&endpoint.path, false))
                    .or_default(),
                figures,
            );
        }
        vars.layers("pipe", by_name);
    }
    if settings.backend {
        let mut by_name: BTreeMap<String, [LayerStats; 4]> = BTreeMap::new();
        for (endpoint, figures) in config.endpoints.iter().zip(&stats.backends) {
            for (backend, figures) in endpoint.backends.iter().zip(figures) {
                add_layers(
                    by_name
                        .entry(lura_url_pattern(&backend.url_pattern))
                        .or_default(),
                    figures,
                );
            }
        }
        vars.layers("backend", by_name);
    }
    // go-metrics `RegisterRuntimeMemStats` gauges: the two a Rust process
    // has a figure for (docs/stats.md).
    if let Some(threads) = status.threads {
        vars.int("krakend.service.runtime.NumThread".into(), threads);
    }
    if let Some(rss) = status.rss {
        vars.int("krakend.service.runtime.MemStats.Sys".into(), rss);
    }
    vars.write(out);
}

/// Names and their values as JSON text.
#[derive(Default)]
struct Vars(BTreeMap<String, String>);

impl Vars {
    fn raw(&mut self, name: String, value: String) {
        self.0.insert(name, value);
    }

    fn int(&mut self, name: String, value: u64) {
        self.raw(name, value.to_string());
    }

    fn float(&mut self, name: String, value: f64) {
        self.raw(name, go_float(value));
    }

    fn histogram(&mut self, base: &str, sample: &Sample) {
        self.int(format!("{base}.count"), sample.count());
        self.float(format!("{base}.min"), sample.min() as f64);
        self.float(format!("{base}.max"), sample.max() as f64);
        self.float(format!("{base}.mean"), sample.mean());
        self.float(format!("{base}.std-dev"), sample.std_dev());
        let values = sample.percentiles(&PERCENTILES.map(|(p, _)| p));
        for ((_, name), value) in PERCENTILES.iter().zip(values) {
            self.float(format!("{base}.{name}"), value);
        }
    }

    /// krakend-metrics `proxy.go`: every outcome of every name is
    /// registered up front.
    fn layers(&mut self, layer: &str, by_name: BTreeMap<String, [LayerStats; 4]>) {
        for (name, slots) in by_name {
            for ((complete, error), slot) in OUTCOMES.iter().zip(&slots) {
                let labels = format!("layer.{layer}.name.{name}.complete.{complete}.error.{error}");
                self.int(format!("krakend.proxy.requests.{labels}"), slot.requests);
                self.histogram(&format!("krakend.proxy.latency.{labels}"), &slot.latency);
            }
        }
    }

    /// Go's `expvar` handler: `{`, `"name": value` lines joined by `,`, `}`.
    fn write(self, out: &mut String) {
        out.push_str("{\n");
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            let name = serde_json::to_string(name).unwrap_or_default();
            let _ = write!(out, "{name}: {value}");
        }
        out.push_str("\n}\n");
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (`expvar.Float`): the
/// shortest digits, in exponent form (`1.5e+06`, `1e-05`) when the decimal
/// exponent is below -4 or at least 6 (Go's rule for the shortest form).
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        // Not JSON; go-metrics never gives one from finite samples.
        return "0".into();
    }
    let e_form = format!("{f:e}");
    let (mantissa, exponent) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

/// lura's name of a backend (`config/config.go`
/// `initBackendURLMappings`): the pattern with one leading `/`, each
/// `{param}` written `{{.Param}}` (first letter upper-cased).
pub fn lura_url_pattern(pattern: &str) -> String {
    let pattern = format!("/{}", pattern.strip_prefix('/').unwrap_or(pattern));
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut rest = pattern.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let name = &rest[open + 1..close];
        out.push_str(&rest[..open]);
        if name.is_empty() || name.contains('{') {
            out.push_str(&rest[open..=close]);
        } else {
            let mut chars = name.chars();
            let first = chars.next().map(|c| c.to_uppercase().to_string());
            let _ = write!(
                out,
                "{{{{.{}{}}}}}",
                first.unwrap_or_default(),
                chars.as_str()
            );
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `/proc/self/status`: resident memory (bytes) and threads.
struct ProcStatus {
    rss: Option<u64>,
    threads: Option<u64>,
}

impl ProcStatus {
    fn read() -> ProcStatus {
        let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        ProcStatus {
            rss: field("VmRSS:").map(|kib| kib * 1024),
            threads: field("Threads:"),
        }
    }
}

/// Go's `runtime.MemStats` as `expvar` writes it, with the fields in Go's
/// order. A Rust process has no garbage collector nor Go heap: only `Sys`
/// holds a figure (the resident memory); the rest are zero.
fn memstats(status: &ProcStatus) -> String {
    let mut out = String::from("{");
    let sys = status.rss.unwrap_or(0);
    for (i, name) in [
        "Alloc",
        "TotalAlloc",
        "Sys",
        "Lookups",
        "Mallocs",
        "Frees",
        "HeapAlloc",
        "HeapSys",
        "HeapIdle",
        "HeapInuse",
        "HeapReleased",
        "HeapObjects",
        "StackInuse",
        "StackSys",
        "MSpanInuse",
        "MSpanSys",
        "MCacheInuse",
        "MCacheSys",
        "BuckHashSys",
        "GCSys",
        "OtherSys",
        "NextGC",
        "LastGC",
        "PauseTotalNs",
    ]
    .iter()
    .enumerate()
    {
        let value = if *name == "Sys" { sys } else { 0 };
        let _ = write!(out, "{}\"{name}\":{value}", if i > 0 { "," } else { "" });
    }
    let zeros = vec!["0"; 256].join(",");
    let _ = write!(
        out,
        ",\"PauseNs\":[{zeros}],\"PauseEnd\":[{zeros}],\"NumGC\":0,\"NumForcedGC\":0,\"GCCPUFraction\":0,\"EnableGC\":false,\"DebugGC\":false,\"BySize\":[]}}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_go_writes_them() {
        for (f, go) in [
            (0.0, "0"),
            (1.0, "1"),
            (12.5, "12.5"),
            (123456.0, "123456"),
            (1_000_000.0, "1e+06"),
            (1_534_210.0, "1.53421e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e21, "2.5e+21"),
        ] {
            assert_eq!(go_float(f), go, "{f}");
        }
    }

    #[test]
    fn backends_are_named_as_lura_rewrites_them() {
        assert_eq!(lura_url_pattern("users/{id}"), "/users/{{.Id}}");
        assert_eq!(
            lura_url_pattern("/a/{resp0_x}?q={JWT.sub}"),
            "/a/{{.Resp0_x}}?q={{.JWT.sub}}"
        );
        assert_eq!(lura_url_pattern("/plain"), "/plain");
    }

    #[test]
    fn memstats_is_an_object_with_go_fields() {
        let text = memstats(&ProcStatus {
            rss: Some(4096),
            threads: None,
        });
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["Sys"], 4096);
        assert_eq!(v["PauseNs"].as_array().unwrap().len(), 256);
        assert_eq!(v["EnableGC"], false);
    }
}
