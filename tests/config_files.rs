//! Every example configuration in `config/` must load, so none of them rots.

use std::path::Path;

#[test]
fn every_config_file_loads() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no config/*.json found");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            cuttle::config::load(path)
                .err()
                .map(|error| error.to_string())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_example_uses_the_features_it_documents() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.json");
    let config = cuttle::config::load(&path).expect("config/example.json loads");
    assert!(
        config.unknown_namespaces.is_empty(),
        "{:?}",
        config.unknown_namespaces
    );
    let endpoints = &config.endpoints;
    assert!(endpoints.iter().any(|e| e.sequential));
    assert!(endpoints.iter().any(|e| e.static_response.is_some()));
    assert!(endpoints.iter().any(|e| !e.flatmap.is_empty()));
    assert!(endpoints.iter().any(|e| e.backends.len() > 2));
    assert!(
        endpoints
            .iter()
            .any(|e| e.output_encoding == cuttle::config::OutputEncoding::NoOp)
    );
}

/// `config/cuttle.service` keeps the promises its README section makes:
/// systemd waits for the drain, SIGHUP reloads, crashes restart.
#[test]
fn the_systemd_unit_waits_for_the_drain() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cuttle.service");
    let unit = std::fs::read_to_string(&path).expect("config/cuttle.service");
    let value = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    assert_eq!(value("KillSignal"), ["SIGTERM"]);
    assert_eq!(value("Restart"), ["on-failure"]);
    assert_eq!(value("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert!(value("LimitNOFILE")[0].parse::<u64>().unwrap() >= 65_536);
    let stop = value("TimeoutStopSec")[0];
    let stop = std::time::Duration::from_secs(stop.trim_end_matches('s').parse().unwrap());
    // The default max_shutdown_wait_time (a file without it).
    let dir = std::env::temp_dir().join(format!("cuttle-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("minimal.json");
    std::fs::write(&file, r#"{"version": 3, "endpoints": []}"#).unwrap();
    let config = cuttle::config::load(&file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        stop > config.limits.shutdown_wait,
        "TimeoutStopSec {stop:?} must exceed max_shutdown_wait_time {:?}",
        config.limits.shutdown_wait
    );
    let start = value("ExecStart")[0];
    assert!(
        start.starts_with("/usr/local/bin/cuttle run -c /etc/cuttle/"),
        "{start}"
    );
}
