#!/usr/bin/env python3
"""Writes the seeds of h1_exchange and h2_exchange (run from fuzz/seeds/).

h2 seeds are the frames after the preface, SETTINGS and SETTINGS ACK that
the target adds itself; header blocks are HPACK literals without indexing
(a zero byte, then the name and the value, each with a 7-bit length).
"""
import struct

H1 = {
    "get_params": b"GET /users/42?page=3&q=x&other=1 HTTP/1.1\r\nHost: gw\r\nX-Trace: abc\r\nAccept: application/json\r\n\r\n",
    "pipelined": b"GET /users/1 HTTP/1.1\r\nHost: gw\r\n\r\nHEAD /agg/2 HTTP/1.1\r\nHost: gw\r\n\r\nGET /limited HTTP/1.1\r\nHost: gw\r\n\r\n",
    "post_length": b"POST /items/books/7 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"title\":\"a\"}",
    "post_chunked": b"POST /items/books/8 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
    "noop_forward": b"GET /raw/file.txt?x=1&y=%2F HTTP/1.1\r\nHost: gw\r\nX-Custom: v\r\nCookie: a=b\r\nConnection: keep-alive\r\n\r\n",
    "cel": b"GET /checked/yes HTTP/1.1\r\nHost: gw\r\n\r\nGET /checked/no HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    "expect": b"POST /items/a/b HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
    "not_found": b"OPTIONS /users/1/ HTTP/1.1\r\nHost: gw\r\n\r\nGET /users/../x HTTP/1.1\r\nHost: gw\r\n\r\n",
}


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def headers(stream, fields, end_stream=True):
    block = b"".join(literal(n.encode(), v.encode()) for n, v in fields)
    return frame(1, 0x4 | (0x1 if end_stream else 0), stream, block)


def req(method, path, extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", "gw"), (":path", path), *extra]


H2 = {
    "get": headers(1, req("GET", "/users/42?page=2", [("x-trace", "t")])),
    "two_streams": headers(1, req("GET", "/agg/1")) + headers(3, req("GET", "/raw/a?b=c", [("x-any", "1")])),
    "post_body": headers(1, req("POST", "/items/k/1", [("content-type", "application/json")]), end_stream=False)
    + frame(0, 0x1, 1, b'{"a":1}'),
    "continuation": frame(1, 0x1, 1, literal(b":method", b"GET") + literal(b":scheme", b"http"))
    + frame(9, 0x4, 1, literal(b":authority", b"gw") + literal(b":path", b"/checked/yes")),
    "ping_window_rst": frame(6, 0, 0, b"12345678")
    + frame(8, 0, 0, struct.pack(">I", 1000))
    + headers(1, req("GET", "/limited"))
    + frame(3, 0, 1, struct.pack(">I", 8)),
}

for name, data in H1.items():
    open(f"h1_exchange/{name}", "wb").write(data)
for name, data in H2.items():
    open(f"h2_exchange/{name}", "wb").write(data)
