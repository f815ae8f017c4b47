//! The per-worker listening socket.
//!
//! glommio's own `TcpListener::bind` sets `SO_REUSEPORT` but not
//! `SO_REUSEADDR`. Connections the gateway closes first sit in TIME-WAIT for a
//! minute and inherit the listener's options; without `SO_REUSEADDR` on them,
//! a restart on the same port fails with "Address already in use" (the
//! start-up port probe binds without `SO_REUSEPORT`). Edge servers restart on
//! the same port all the time, and nginx, Envoy and Go's `net.Listen` all set
//! `SO_REUSEADDR`, so this builds the socket with both options and hands it
//! to glommio.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

/// Pending connections the kernel queues per worker before accepting (the
/// kernel caps it at `net.core.somaxconn`).
const BACKLOG: libc::c_int = 1024;

/// A listening socket with `SO_REUSEADDR` and `SO_REUSEPORT`, as std's.
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<StdListener> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            libc::IPPROTO_TCP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is open, and nothing else
    // owns it; the OwnedFd closes it on every early return.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_flag(&socket, libc::SO_REUSEADDR)?;
    set_flag(&socket, libc::SO_REUSEPORT)?;
    bind(&socket, addr)?;
    // SAFETY: listen(2) on a descriptor we own; no pointers.
    check(unsafe { libc::listen(socket.as_raw_fd(), BACKLOG) })?;
    Ok(StdListener::from(socket))
}

/// Gives glommio a listener built here.
pub fn into_glommio(listener: StdListener) -> glommio::net::TcpListener {
    // SAFETY: `into_raw_fd` transfers sole ownership of an open, bound,
    // listening TCP socket, exactly what glommio's `from_raw_fd` requires;
    // glommio closes it when its listener drops.
    unsafe { glommio::net::TcpListener::from_raw_fd(listener.into_raw_fd()) }
}

fn set_flag(socket: &OwnedFd, option: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the option value points at a live c_int and its exact size is
    // passed; the descriptor is open for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc)
}

fn bind(socket: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    // SAFETY (both arms): the sockaddr is a fully initialised local value
    // whose exact size is passed with it.
    let rc = match addr {
        SocketAddr::V4(v4) => {
            let raw = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            unsafe {
                libc::bind(
                    socket.as_raw_fd(),
                    (&raw as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(v6) => {
            let raw = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            unsafe {
                libc::bind(
                    socket.as_raw_fd(),
                    (&raw as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    check(rc)
}

/// A libc call's 0-or-error result as `io::Result`.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_workers_share_a_port() {
        let first = reuseport_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = reuseport_listener(addr).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
    }

    #[test]
    fn rebinds_while_closed_connections_linger_in_time_wait() {
        use std::io::{Read, Write};
        let listener = reuseport_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        // The server side closes first, so its end sits in TIME-WAIT.
        accepted.write_all(b"bye").unwrap();
        drop(accepted);
        let mut buf = [0u8; 8];
        let _ = client.read(&mut buf);
        drop(client);
        drop(listener);
        // The start-up probe binds without SO_REUSEPORT: the kernel lets it
        // past TIME-WAIT sockets only when they inherited SO_REUSEADDR.
        let probe = StdListener::bind(addr).expect("rebind over TIME-WAIT");
        assert_eq!(probe.local_addr().unwrap(), addr);
    }
}
