//! Raw bytes as one HTTP/1.1 client connection's input, through the real
//! codec and request path to a recording backend (`cuttle::harness`).
#![no_main]

use cuttle::harness::{Fixture, Protocol};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static FIXTURE: Fixture = Fixture::start().expect("fuzz fixture");
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|fixture| {
        if let Err(why) = fixture.exchange(Protocol::Http1, data) {
            panic!("{why}");
        }
    });
});
