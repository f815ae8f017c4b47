#!/usr/bin/python3
"""A DNS server for tests, on UDP 127.0.0.1:<ephemeral port>.

Usage: dns_server.py ZONE.json

Prints its port on the first line of stdout, then answers every question
from ZONE.json, read again for each question, so a test changes the
answers by rewriting the file (write a temporary file, then rename it).

ZONE.json maps a name (no final dot) to its records:
  {"svc.test": {"A": ["127.0.0.1"]},
   "_api._tcp.svc.test": {"SRV": [[priority, weight, port, "target.test"]]},
   "$ttl": 1}
A name it does not list is answered NXDOMAIN; a name listed without
records of the type asked gets an empty answer. "$ttl" is every record's
TTL (1 s when absent).
"""
import json
import socket
import sys

from dnslib import AAAA, QTYPE, RCODE, RR, SRV, A, DNSRecord


def answer(zone, request):
    reply = request.reply()
    qname = str(request.q.qname).rstrip(".").lower()
    qtype = QTYPE[request.q.qtype]
    ttl = int(zone.get("$ttl", 1))
    records = {k.lower(): v for k, v in zone.items() if not k.startswith("$")}
    if qname not in records:
        reply.header.rcode = RCODE.NXDOMAIN
        return reply
    entry = records[qname]
    for value in entry.get(qtype, []):
        if qtype == "A":
            rdata = A(value)
        elif qtype == "AAAA":
            rdata = AAAA(value)
        elif qtype == "SRV":
            priority, weight, port, target = value
            rdata = SRV(priority=priority, weight=weight, port=port, target=target)
        else:
            continue
        reply.add_answer(RR(request.q.qname, QTYPE.reverse[qtype], rdata=rdata, ttl=ttl))
    return reply


def main():
    zone_path = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            request = DNSRecord.parse(data)
            with open(zone_path) as f:
                zone = json.load(f)
            reply = answer(zone, request)
        except Exception as e:  # a malformed question or zone: SERVFAIL
            print(f"dns_server: {e}", file=sys.stderr, flush=True)
            try:
                reply = DNSRecord.parse(data).reply()
                reply.header.rcode = RCODE.SERVFAIL
            except Exception:
                continue
        sock.sendto(reply.pack(), peer)


if __name__ == "__main__":
    main()
