#!/usr/bin/env python3
"""Idle keep-alive clients for loadtest/idle.sh (python3 only, no packages).

Opens N connections to HOST:PORT; each sends one request (HTTP/1.1
keep-alive, or HTTP/2 with prior knowledge: the preface, an empty
SETTINGS frame and one HEADERS frame written by hand) and reads its
response whole, then stays connected and silent. At most CONCURRENCY
requests are in flight at once, so what is measured is what idle
connections hold, not the peak of N requests served together. Prints the
gateway's resident memory (VmRSS of PID, from /proc) before and after, and
the difference per client.

    idle_clients.py PID PORT PATH N [--h2c | --tls] [--concurrency C] [--hold SECONDS]

With --tls, HTTP/1.1 over TLS (ALPN http/1.1, the certificate not checked).
"""
import argparse
import asyncio
import ssl
import struct
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(index, value):
    # Literal header field without indexing, name from the static table
    # (index < 15), value not Huffman-coded (length < 127).
    value = value.encode()
    return bytes([index, len(value)]) + value


def h2_request(host, path):
    block = (
        b"\x82"  # :method GET
        + b"\x86"  # :scheme http
        + hpack_literal(4, path)  # :path
        + hpack_literal(1, host)  # :authority
    )
    return (
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + frame(4, 0, 0, b"")  # SETTINGS
        + frame(1, 0x5, 1, block)  # HEADERS, END_STREAM | END_HEADERS
    )


async def h1_exchange(reader, writer, host, path):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked response: use an endpoint with a Content-Length")
    if length is None:
        raise RuntimeError("response without Content-Length")
    await reader.readexactly(length)
    return status


async def h2_exchange(reader, writer, host, path):
    writer.write(h2_request(host, path))
    await writer.drain()
    status = None
    while True:
        head = await reader.readexactly(9)
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        payload = await reader.readexactly(length)
        if kind == 4 and not flags & 1:  # SETTINGS: acknowledge
            writer.write(frame(4, 1, 0, b""))
            await writer.drain()
        elif kind == 7:  # GOAWAY
            raise RuntimeError("GOAWAY")
        elif kind == 3 and stream == 1:  # RST_STREAM
            raise RuntimeError("stream reset")
        elif stream == 1 and kind in (0, 1):
            if kind == 1 and status is None:
                status = 200 if payload[:1] == b"\x88" else 0
            if flags & 1:  # END_STREAM
                return status


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("pid", type=int)
    p.add_argument("port", type=int)
    p.add_argument("path")
    p.add_argument("n", type=int)
    p.add_argument("--h2c", action="store_true")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--hold", type=float, default=2.0, help="seconds idle before the second reading")
    p.add_argument("--label", default="gateway")
    a = p.parse_args()
    host = f"127.0.0.1:{a.port}"
    exchange = h2_exchange if a.h2c else h1_exchange
    tls = None
    if a.tls:
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        tls.set_alpn_protocols(["http/1.1"])
    before = rss_kib(a.pid)
    gate = asyncio.Semaphore(a.concurrency)
    conns = []
    failed = 0

    async def one():
        nonlocal failed
        async with gate:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", a.port, ssl=tls)
                status = await asyncio.wait_for(exchange(reader, writer, host, a.path), 30)
                if status != 200:
                    failed += 1
                conns.append(writer)
            except (OSError, RuntimeError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError) as e:
                failed += 1
                if failed <= 3:
                    print(f"client failed: {e!r}", file=sys.stderr)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(a.n)))
    took = time.monotonic() - started
    # Let the gateway finish its bookkeeping and the allocator settle.
    await asyncio.sleep(a.hold)
    after = rss_kib(a.pid)
    idle = len(conns)
    per = (after - before) / idle if idle else float("nan")
    proto = "h2c" if a.h2c else "HTTPS" if a.tls else "HTTP/1.1"
    print(
        f"{a.label:8} {proto:8} clients {idle:6} (failed {failed}) in {took:5.1f} s  "
        f"RSS {before} -> {after} KiB  {per:7.2f} KiB per idle client"
    )
    for w in conns:
        w.close()


asyncio.run(main())
