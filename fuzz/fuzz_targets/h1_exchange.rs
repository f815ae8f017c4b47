//! Raw bytes as one HTTP/1.1 client connection's input, through the real
//! codec and request path to a recording backend (`cuttle::harness`).
#![no_main]

use std::time::Duration;

use cuttle::harness::{
    Backend, Gateway, Protocol, check_backend_request, check_h1_output, fuzz_config,
};
use libfuzzer_sys::fuzz_target;

/// Longer than any wait of the fuzz configuration (backend timeout 2 s,
/// read_header_timeout 1 s) once the input has ended.
const LIMIT: Duration = Duration::from_secs(5);

thread_local! {
    static SETUP: (Backend, Gateway) = {
        let backend = Backend::start().expect("backend");
        let gateway = Gateway::from_json(&fuzz_config(backend.addr)).expect("fuzz config");
        (backend, gateway)
    };
}

fuzz_target!(|data: &[u8]| {
    SETUP.with(|(backend, gateway)| {
        let served = gateway.serve(Protocol::Http1, data, LIMIT);
        assert!(served.finished, "connection still open {LIMIT:?} after the input ended");
        if let Err(why) = check_h1_output(&served.output, true) {
            panic!("{why}\n{}", String::from_utf8_lossy(&served.output));
        }
        for head in backend.take() {
            if let Err(why) = check_backend_request(&head) {
                panic!("backend request: {why}");
            }
        }
    });
});
