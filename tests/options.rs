//! The one list of options (`src/config/options.rs`) against the loader:
//! every row is tried in a file, and the loader must do what the row
//! says (honoured: not warned about; refused: loading fails naming it;
//! ignored: a warning naming its JSON path). `docs/options.md` is
//! generated from the same rows: after changing them, run
//! `CUTTLE_BLESS_OPTIONS=1 cargo test --test options` to rewrite it.

mod common;

use std::path::Path;
use std::process::Command;

use cuttle::config::options::{self, Level, Opt, Status};
use serde_json::{Map, Value, json};

use common::TempDir;

/// Settings a namespace needs before any one key of it can be tried
/// e.g. a circuit breaker's three numbers.
fn base(namespace: &str) -> &'static str {
    match namespace {
        "qos/circuit-breaker" => r#"{"interval": 60, "timeout": 10, "max_errors": 5}"#,
        "qos/ratelimit/router" | "qos/ratelimit/proxy" => r#"{"max_rate": 10}"#,
        "qos/ratelimit/router/redis" | "qos/ratelimit/proxy/redis" => {
            r#"{"connection_name": "p", "max_rate": 10}"#
        }
        "auth/validator" => r#"{"alg": "HS256", "jwk_local_path": "JWK"}"#,
        "auth/signer" => {
            r#"{"alg": "HS256", "kid": "sim2", "jwk_local_path": "JWK", "keys_to_sign": ["t"]}"#
        }
        "modifier/jmespath" => r#"{"expr": "a"}"#,
        "auth/revoker" => {
            r#"{"N": 100, "P": 0.01, "hash_name": "optimal", "TTL": 60, "port": 1234, "token_keys": ["jti"]}"#
        }
        "auth/client-credentials" => r#"{"token_url": "http://127.0.0.1:9/token"}"#,
        "plugin/req-resp-modifier" => {
            r#"{"name": ["content-replacer"], "content-replacer": {"a": {"find": "x", "replace": "y"}}}"#
        }
        "proxy" => r#"{"shadow": true}"#,
        "websocket" => r#"{"enable_direct_communication": true}"#,
        "backend/graphql" => r#"{"type": "query", "query": "{ a }"}"#,
        "backend/pubsub/publisher" => r#"{"topic_url": "orders"}"#,
        "backend/pubsub/subscriber" => r#"{"subscription_url": "orders"}"#,
        "backend/amqp/consumer" | "backend/amqp/producer" => r#"{"name": "q", "exchange": "x"}"#,
        _ => "{}",
    }
}

/// A descriptor set with one unary method, `/o.S/M`, for `backend/grpc`
/// rows (written once per run).
fn grpc_catalog() -> &'static Path {
    use prost_reflect::prost::Message as _;
    use prost_reflect::prost_types::{
        DescriptorProto, FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto,
        ServiceDescriptorProto,
    };
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let file = FileDescriptorProto {
            name: Some("o.proto".into()),
            package: Some("o".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("E".into()),
                ..Default::default()
            }],
            service: vec![ServiceDescriptorProto {
                name: Some("S".into()),
                method: vec![MethodDescriptorProto {
                    name: Some("M".into()),
                    input_type: Some(".o.E".into()),
                    output_type: Some(".o.E".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let set = FileDescriptorSet { file: vec![file] };
        let path = std::env::temp_dir().join(format!("cuttle-options-{}.pb", std::process::id()));
        std::fs::write(&path, set.encode_to_vec()).unwrap();
        path
    })
}

/// The file a row is tried in: one endpoint with two backends; the row's
/// option goes on the root, the endpoint or the first backend.
fn file_for(row: &Opt, level: Level) -> Value {
    let mut doc = json!({
        "version": 3,
        "host": ["http://127.0.0.1:9"],
        "endpoints": [{"endpoint": "/probe", "backend": [
            {"url_pattern": "/p"}, {"url_pattern": "/q"}]}]
    });
    let sample: Value = serde_json::from_str(row.sample)
        .unwrap_or_else(|e| panic!("{}: the sample is not JSON: {e}", row.path));
    let target = match level {
        Level::Root => &mut doc,
        Level::Endpoint => &mut doc["endpoints"][0],
        Level::Backend => &mut doc["endpoints"][0]["backend"][0],
    };
    match row.path.strip_prefix("extra_config.") {
        Some(rest) => {
            let (namespace, keys) = match rest.split_once('.') {
                Some((n, k)) => (n, Some(k)),
                None => (rest, None),
            };
            let mut settings: Value = serde_json::from_str(base(namespace)).unwrap();
            if namespace == "auth/validator" && level == Level::Root {
                settings = json!({});
            }
            match keys {
                None => merge(&mut settings, sample),
                Some(keys) => set(&mut settings, &keys.split('.').collect::<Vec<_>>(), sample),
            }
            if row.path.ends_with("backend/graphql.query_path") {
                // One of query and query_path.
                settings.as_object_mut().unwrap().remove("query");
            }
            if row.path.ends_with("proxy.shadow_timeout") {
                settings["shadow"] = json!(true);
            }
            target["extra_config"][namespace] = settings;
            if row.path == "extra_config.auth/revoker.connection_name" {
                // It names a root redis connection (a root-level row).
                target["extra_config"]["redis"] =
                    json!({"connection_pools": [{"name": "shared", "address": "127.0.0.1:9"}]});
            }
            if namespace.starts_with("backend/amqp/") && level == Level::Backend {
                // An AMQP backend's host is its broker.
                target["host"] = json!(["amqp://127.0.0.1:9"]);
            }
            if matches!(
                namespace,
                "backend/pubsub/publisher" | "backend/pubsub/subscriber"
            ) && level == Level::Backend
            {
                // A pubsub backend's host names its driver.
                target["host"] = json!(["nats://"]);
            }
            if namespace == "backend/grpc" && level == Level::Backend {
                // A gRPC backend names a method of the root catalog.
                target["url_pattern"] = json!("/o.S/M");
                doc["extra_config"]["grpc"] = json!({"catalog": [grpc_catalog()]});
            }
            if namespace.starts_with("qos/ratelimit/") && namespace.ends_with("/redis") {
                // A Redis-backed limit names a root connection.
                doc["extra_config"]["redis"] =
                    json!({"connection_pools": [{"name": "p", "address": "127.0.0.1:6379"}]});
                let target = match level {
                    Level::Endpoint => &mut doc["endpoints"][0],
                    _ => &mut doc["endpoints"][0]["backend"][0],
                };
                let settings = &mut target["extra_config"][namespace];
                if row.path.contains(".local_") {
                    settings["on_failure"] = json!("local");
                }
                if row.path.ends_with(".local_client_max_rate") {
                    settings["client_max_rate"] = json!(10);
                    settings["strategy"] = json!("ip");
                }
            }
            if namespace == "websocket" && level == Level::Endpoint {
                // A websocket endpoint relays to one ws:// backend.
                doc["endpoints"][0]["backend"] =
                    json!([{"url_pattern": "/p", "host": ["ws://127.0.0.1:9"]}]);
            }
        }
        None => {
            if matches!(row.path, "tls.public_key" | "tls.private_key") {
                target["tls"] = json!({"public_key": "c.pem", "private_key": "k.pem"});
            } else if row.path.starts_with("tls.") {
                target["tls"] = json!({"keys": [{"public_key": "c.pem", "private_key": "k.pem"}]});
            }
            set(target, &row.path.split('.').collect::<Vec<_>>(), sample)
        }
    }
    doc
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                into.insert(k, v);
            }
        }
        (into, from) => *into = from,
    }
}

/// Sets `keys` (a `[]` key is a one-item list) under `value`.
fn set(value: &mut Value, keys: &[&str], sample: Value) {
    let Some((first, rest)) = keys.split_first() else {
        merge(value, sample);
        return;
    };
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let (key, list) = match first.strip_suffix("[]") {
        Some(key) => (key, true),
        None => (*first, false),
    };
    let slot = value
        .as_object_mut()
        .unwrap()
        .entry(key)
        .or_insert(Value::Null);
    if list {
        if !slot.is_array() {
            *slot = match key {
                "keys" => json!([{"public_key": "c.pem", "private_key": "k.pem"}]),
                "client_certs" => json!([{"certificate": "c.pem", "private_key": "k.pem"}]),
                "connection_pools" => json!([{"name": "p", "address": "127.0.0.1:6379"}]),
                "clusters" => json!([{"name": "c", "addresses": ["127.0.0.1:7000"]}]),
                _ => json!([{"name": "p"}]),
            };
        }
        set(&mut slot[0], rest, sample);
    } else if rest.is_empty() {
        *slot = sample;
    } else {
        set(slot, rest, sample);
    }
}

/// The JSON path the loader should name for a row at `level`.
fn expected_path(row: &Opt, level: Level) -> String {
    let at = row.path.replace("[]", "[0]");
    match level {
        Level::Root => at,
        Level::Endpoint => format!("endpoints[0].{at}"),
        Level::Backend => format!("endpoints[0].backend[0].{at}"),
    }
}

#[test]
fn the_loader_does_what_each_row_says() {
    let mut wrong = Vec::new();
    for row in options::rows() {
        for &level in row.levels {
            let doc = file_for(row, level);
            let text = serde_json::to_string_pretty(&doc).unwrap();
            let at = expected_path(row, level);
            let loaded = cuttle::config::parse(&text, Path::new("options.json"));
            let verdict = match (row.status, loaded) {
                (Status::Refused, Err(error)) => {
                    let message = error.to_string();
                    (!message.contains(&at))
                        .then(|| format!("refused without naming it: {message}"))
                }
                (Status::Refused, Ok(_)) => Some("accepted".to_owned()),
                (_, Err(error)) => Some(format!("refused: {error}")),
                (Status::Ignored, Ok(config)) => {
                    let named = config
                        .warnings
                        .iter()
                        .any(|w| w.at == at && !w.message.is_empty());
                    (!named).then(|| format!("not warned about; warnings: {:?}", config.warnings))
                }
                (Status::Honoured, Ok(config)) => {
                    let warned = config.warnings.iter().any(|w| w.at == at);
                    let unknown = config
                        .unknown_namespaces
                        .iter()
                        .any(|u| at.ends_with(u.as_str()));
                    (warned || unknown).then(|| {
                        format!(
                            "warned about: {:?} {:?}",
                            config.warnings, config.unknown_namespaces
                        )
                    })
                }
            };
            if let Some(verdict) = verdict {
                wrong.push(format!(
                    "{} ({}, {}): {verdict}",
                    at,
                    level.name(),
                    row.status.name()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows disagree with the loader:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every key KrakenD's schema gives the root, an endpoint and a backend
/// has a row at that level (the schema lists are `suggest.rs`'s, checked
/// against the schema there); every schema namespace has one per level.
#[test]
fn every_schema_key_has_a_row() {
    let rows = options::rows();
    for level in [Level::Root, Level::Endpoint, Level::Backend] {
        for key in options::schema_keys(level) {
            assert!(
                rows.iter()
                    .any(|r| r.path == *key && r.levels.contains(&level)),
                "{key} ({}) has no row",
                level.name()
            );
        }
        for namespace in options::schema_namespaces() {
            let path = format!("extra_config.{namespace}");
            assert!(
                rows.iter()
                    .any(|r| r.path == path && r.levels.contains(&level)),
                "{path} ({}) has no row",
                level.name()
            );
        }
    }
}

/// `check` itself prints an ignored option's path and why, and fails on a
/// refused one naming it.
#[test]
fn check_prints_ignored_options_and_fails_on_refused_ones() {
    let dir = TempDir::new();
    let ignored = dir.0.join("ignored.json");
    std::fs::write(
        &ignored,
        r#"{"version": 3, "sequential_start": true, "endpoints": [{"endpoint": "/a",
            "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/x", "disable_host_sanitize": true}]}],
            "extra_config": {"telemetry/opentelemetry": {"layers": {"proxy": {"report_headers": true}}}},
            "tls": {"disabled": true, "prefer_server_cipher_suites": true},
            "client_tls": {"min_verion": "TLS12"}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c"])
        .arg(&ignored)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for line in [
        "warning: sequential_start: ignored: ",
        "warning: endpoints[0].backend[0].disable_host_sanitize: ignored: ",
        "warning: extra_config.telemetry/opentelemetry.layers.proxy.report_headers: ignored: cuttle reports request headers on the server span only",
        "warning: tls.prefer_server_cipher_suites: ignored: ",
        "warning: settings cuttle ignores: client_tls.min_verion",
    ] {
        assert!(stderr.contains(line), "{line:?} missing from:\n{stderr}");
    }
    let refused = dir.0.join("refused.json");
    std::fs::write(
        &refused,
        r#"{"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"],
            "url_pattern": "/x", "extra_config": {"backend/http/client": {"proxy_address": "http://p:3128"}}}]}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c"])
        .arg(&refused)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("endpoints[0].backend[0].extra_config.backend/http/client.proxy_address"),
        "{all}"
    );
}

/// `docs/options.md` is the list as a table.
#[test]
fn docs_options_md_is_generated_from_the_list() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/options.md");
    let wanted = options::markdown();
    if std::env::var_os("CUTTLE_BLESS_OPTIONS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &wanted).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == wanted,
        "docs/options.md is stale: run `CUTTLE_BLESS_OPTIONS=1 cargo test --test options`"
    );
}

/// With `CUTTLE_KRAKEND_SCHEMA` pointing at krakend-schema's bundled
/// `v2.13/krakend.json` (the file `check -l` reads), every property of
/// every namespace cuttle reads, at each level it reads it, has a row:
/// its own, or one above it that is not honoured (the whole subtree is
/// reported), or an honoured one with no rows below (read as a whole, as
/// `proxy.static` or a `validation/json-schema` schema). Without the
/// variable the test has nothing to read and passes.
#[test]
fn every_property_of_a_served_namespace_in_krakends_schema_has_a_row() {
    let Some(path) = std::env::var_os("CUTTLE_KRAKEND_SCHEMA") else {
        return;
    };
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let def = |name: &str| -> &Value {
        let at = format!("https://www.krakend.io/schema/v2.13/{name}");
        resolve(&schema, &schema["$defs"][at.as_str()])
    };
    let lists = [
        (Level::Root, def("service_extra_config.json")),
        (Level::Endpoint, def("endpoint_extra_config.json")),
        (Level::Backend, def("backend_extra_config.json")),
    ];
    let rows = options::rows();
    let plain = |p: &str| p.replace("[]", "");
    let mut missing = Vec::new();
    for (level, list) in lists {
        let served = rows.iter().filter(|r| {
            r.status == Status::Honoured
                && r.levels.contains(&level)
                && r.path.starts_with("extra_config.")
                && !r.path["extra_config.".len()..].contains('.')
        });
        for namespace_row in served {
            let namespace = &namespace_row.path["extra_config.".len()..];
            // At the root, auth/validator holds only the shared cache;
            // auth.rs warns about any other key written there.
            if level == Level::Root && namespace == "auth/validator" {
                continue;
            }
            let Some(node) = list["properties"].get(namespace) else {
                continue;
            };
            let mut properties = Vec::new();
            collect(&schema, node, "", &mut properties);
            for property in properties {
                let full = format!("{}.{property}", namespace_row.path);
                let covered = rows.iter().filter(|r| r.levels.contains(&level)).any(|r| {
                    let row = plain(r.path);
                    row == full
                        || (full.starts_with(&format!("{row}."))
                            && (r.status != Status::Honoured
                                || !rows.iter().any(|o| {
                                    o.levels.contains(&level)
                                        && plain(o.path).starts_with(&format!("{row}."))
                                })))
                });
                if !covered {
                    missing.push(format!("{full} ({})", level.name()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "no row for:\n{}", missing.join("\n"));
}

fn resolve<'a>(schema: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        node = schema.pointer(pointer).unwrap_or(&Value::Null);
    }
    node
}

/// The property paths below `node` (dotted, without list markers), with
/// the branches of `oneOf`/`anyOf`/`allOf` and list items merged.
fn collect(schema: &Value, node: &Value, prefix: &str, out: &mut Vec<String>) {
    let node = resolve(schema, node);
    for key in ["oneOf", "anyOf", "allOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(schema, branch, prefix, out);
        }
    }
    if let Some(items) = node.get("items") {
        collect(schema, items, prefix, out);
    }
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, child) in properties {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if !out.contains(&path) {
            out.push(path.clone());
        }
        collect(schema, child, &path, out);
    }
}

/// `run` logs the same line for an ignored option, with its path and why.
#[test]
fn run_logs_ignored_options() {
    let gw = common::Gateway::start_env(
        r#"{"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"],
            "url_pattern": "/x", "disable_host_sanitize": true}]}],
            "extra_config": {"router": {"max_multipart_memory": 1024}}}"#,
        &["--cores", "1"],
        &[],
        true,
    );
    gw.eventually("the warnings logged", std::time::Duration::from_secs(5), || {
        let log = gw.log();
        log.contains("endpoints[0].backend[0].disable_host_sanitize: ignored: ")
            && log.contains("extra_config.router.max_multipart_memory: ignored: cuttle does not parse multipart bodies")
    });
}
