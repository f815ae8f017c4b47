//! A worker's spare connection buffers.
//!
//! An HTTP/1.1 connection holds its buffers only while a request is being
//! read or answered: between requests (keep-alive) it waits for the socket
//! to become readable holding none, and takes a set from here when bytes
//! arrive; it gives the set back when the response is out and no further
//! request has begun. The pool is per worker thread (connections never
//! leave their worker), so no lock; it keeps at most [`SPARE_SETS`] sets,
//! each trimmed to [`KEEP_BYTES`] a buffer, and frees the rest.

use std::cell::RefCell;

/// The read buffer's first size: most request heads fit.
pub const READ_BUFFER: usize = 8 * 1024;
/// The number of sets a worker keeps: enough for the requests one worker
/// serves at once under a usual load; past it, a set is allocated per
/// request and freed after it.
const SPARE_SETS: usize = 128;
/// A buffer that grew beyond this for one request is not kept (the read
/// buffer goes back to [`READ_BUFFER`]): a set costs at most 7 × 16 KiB,
/// the pool at most 14 MiB a worker, usually about 2 MiB.
const KEEP_BYTES: usize = 16 * 1024;

/// The buffers one request uses (see `conn::Connection` for each;
/// `response_body`, `headers`, `scratch` and `decor` are its
/// `proxy::Scratch`'s).
#[derive(Default)]
pub struct Buffers {
    /// Always `READ_BUFFER` bytes or more long (read into in place).
    pub rbuf: Vec<u8>,
    pub out: Vec<u8>,
    pub body: Vec<u8>,
    pub response_body: Vec<u8>,
    pub headers: Vec<u8>,
    pub scratch: Vec<u8>,
    pub decor: Vec<u8>,
}

impl Buffers {
    fn fresh() -> Buffers {
        Buffers {
            rbuf: vec![0; READ_BUFFER],
            out: Vec::with_capacity(READ_BUFFER),
            ..Buffers::default()
        }
    }
}

thread_local! {
    static SPARE: RefCell<Vec<Buffers>> = const { RefCell::new(Vec::new()) };
}

/// A set from the pool, or a new one.
pub fn take() -> Buffers {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()
        .unwrap_or_else(Buffers::fresh)
}

/// Gives a set back: kept, emptied and trimmed, when the pool has room;
/// else freed.
pub fn give(mut set: Buffers) {
    if set.rbuf.len() < READ_BUFFER {
        return;
    }
    if set.rbuf.len() > KEEP_BYTES {
        set.rbuf = vec![0; READ_BUFFER];
    }
    if set.out.capacity() > KEEP_BYTES {
        set.out = Vec::with_capacity(READ_BUFFER);
    }
    for buf in [
        &mut set.body,
        &mut set.response_body,
        &mut set.headers,
        &mut set.scratch,
        &mut set.decor,
    ] {
        if buf.capacity() > KEEP_BYTES {
            *buf = Vec::new();
        }
        // The next user may be another client: it starts from empty
        // buffers (the read buffer's old bytes lie past its `end`, 0).
        buf.clear();
    }
    set.out.clear();
    // During a panic's unwinding or the thread's end the set is freed.
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut()
            && spare.len() < SPARE_SETS
        {
            spare.push(set);
        }
    });
}

/// How many sets this worker keeps now.
#[cfg(test)]
pub fn spare() -> usize {
    SPARE.with(|spare| spare.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_reused_trimmed_and_capped() {
        let mut set = take();
        assert_eq!(set.rbuf.len(), READ_BUFFER);
        set.rbuf.resize(1024 * 1024, 0);
        set.response_body.reserve(1024 * 1024);
        set.headers.extend_from_slice(b"X-Secret: 1\r\n");
        give(set);
        assert_eq!(spare(), 1);
        let set = take();
        assert_eq!(spare(), 0);
        assert_eq!(set.rbuf.len(), READ_BUFFER);
        assert_eq!(set.response_body.capacity(), 0);
        assert!(set.headers.capacity() >= 13);
        assert!(set.headers.is_empty(), "nothing of the last request");
        // A set not taken from here (no read buffer) is not kept.
        give(Buffers::default());
        assert_eq!(spare(), 0);
        for _ in 0..SPARE_SETS + 10 {
            give(Buffers::fresh());
        }
        assert_eq!(spare(), SPARE_SETS);
    }
}
