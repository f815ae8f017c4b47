//! Checks that this process may create io_uring instances before any
//! executor starts, so a blocked io_uring gets a clear message instead of a
//! panic inside glommio.

/// Size of `struct io_uring_params` (Linux uapi): 120 bytes.
const IO_URING_PARAMS_SIZE: usize = 120;

/// `Err` names why io_uring is not available, with what to change.
pub fn io_uring_available() -> Result<(), String> {
    // io_uring_setup fills the params struct; a zeroed one asks for defaults.
    let mut params = [0u64; IO_URING_PARAMS_SIZE / 8];
    // SAFETY: io_uring_setup(entries, params) reads and writes exactly
    // `struct io_uring_params` (120 bytes) at `params`, which we own and which
    // is large enough and 8-byte aligned; it returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: `fd` is the descriptor io_uring_setup just returned to us.
        unsafe { libc::close(fd as libc::c_int) };
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    Err(match error.raw_os_error() {
        Some(libc::ENOSYS) => {
            format!("{error}: this kernel has no io_uring (Linux 5.8 or later is needed)")
        }
        Some(libc::EPERM) | Some(libc::EACCES) => format!(
            "{error}: io_uring is blocked: set the sysctl kernel.io_uring_disabled to 0, \
             and in Docker run with --security-opt seccomp=unconfined (the default profile blocks io_uring)"
        ),
        Some(libc::ENOMEM) => format!(
            "{error}: not enough locked memory for io_uring: raise it with `ulimit -l unlimited` \
             or LimitMEMLOCK=infinity in the systemd unit"
        ),
        _ => format!("{error}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_uring_is_available_where_the_tests_run() {
        // The integration tests need io_uring too; this names the cause first.
        assert_eq!(super::io_uring_available(), Ok(()));
    }
}
