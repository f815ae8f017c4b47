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
