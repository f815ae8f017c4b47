//! HTTP/2 frames into the real codec and request path, to a recording
//! backend (`cuttle::harness`). The connection opens with the client
//! preface, an empty SETTINGS and a SETTINGS ACK (`H2_START`), then the
//! input's bytes as frames, so the fuzzer spends its time on streams; an
//! input whose first byte is 0xff is sent as it is (preface included).
#![no_main]

use std::time::Duration;

use cuttle::harness::{
    Backend, Gateway, H2_START, Protocol, check_backend_request, check_h2_output, fuzz_config,
};
use libfuzzer_sys::fuzz_target;

const LIMIT: Duration = Duration::from_secs(5);

thread_local! {
    static SETUP: (Backend, Gateway) = {
        let backend = Backend::start().expect("backend");
        let gateway = Gateway::from_json(&fuzz_config(backend.addr)).expect("fuzz config");
        (backend, gateway)
    };
}

fuzz_target!(|data: &[u8]| {
    let input = match data {
        [0xff, raw @ ..] => raw.to_vec(),
        frames => [H2_START, frames].concat(),
    };
    SETUP.with(|(backend, gateway)| {
        let served = gateway.serve(Protocol::Http2, &input, LIMIT);
        assert!(served.finished, "connection still open {LIMIT:?} after the input ended");
        if let Err(why) = check_h2_output(&served.output, true) {
            panic!("{why}\n{:?}", served.output);
        }
        for head in backend.take() {
            if let Err(why) = check_backend_request(&head) {
                panic!("backend request: {why}");
            }
        }
    });
});
