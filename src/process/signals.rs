//! SIGTERM, SIGINT and SIGHUP, received synchronously by the main thread.

/// Blocks SIGTERM, SIGINT and SIGHUP (certificate reload) in the calling thread (and in every thread it
/// spawns afterwards, which inherit the mask) and returns the set.
pub fn block_termination() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t; the signal
    // numbers are valid; pthread_sigmask only reads `set`.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    set
}

/// Waits for one of the signals in `set` (which must be blocked) and names it.
pub fn wait(set: &libc::sigset_t) -> &'static str {
    let mut signal: libc::c_int = 0;
    // SAFETY: `set` is an initialised sigset_t and `signal` a valid out-pointer.
    while unsafe { libc::sigwait(set, &mut signal) } != 0 {}
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}
