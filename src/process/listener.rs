//! The per-worker listening socket.
//!
//! Each worker has its own socket on the port, with `SO_REUSEPORT` so that
//! the kernel spreads connections over them, and `SO_REUSEADDR`.
//! Connections the gateway closes first sit in TIME-WAIT for a minute and
//! inherit the listener's options; without `SO_REUSEADDR` on them, a restart
//! on the same port fails with "Address already in use" (the start-up port
//! probe binds without `SO_REUSEPORT`). Edge servers restart on the same
//! port all the time, and nginx, Envoy and Go's `net.Listen` all set
//! `SO_REUSEADDR`.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues per worker before accepting (the
/// kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// A listening socket with `SO_REUSEADDR` and `SO_REUSEPORT`, as std's.
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<StdListener> {
    // socket2 creates it close-on-exec.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
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
