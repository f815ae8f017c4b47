//! HTTP/2 frames into the real codec and request path, to a recording
//! backend (`cuttle::harness`). The connection opens with the client
//! preface, an empty SETTINGS and a SETTINGS ACK (`H2_START`), then the
//! input's bytes as frames, so the fuzzer spends its time on streams; an
//! input whose first byte is 0xff is sent as it is (preface included).
#![no_main]

use cuttle::harness::{Fixture, H2_START, Protocol};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static FIXTURE: Fixture = Fixture::start().expect("fuzz fixture");
}

fuzz_target!(|data: &[u8]| {
    let input = match data {
        [0xff, raw @ ..] => raw.to_vec(),
        frames => [H2_START, frames].concat(),
    };
    FIXTURE.with(|fixture| {
        if let Err(why) = fixture.exchange(Protocol::Http2, &input) {
            panic!("{why}");
        }
    });
});
