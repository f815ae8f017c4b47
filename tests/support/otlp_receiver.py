"""An OTLP receiver for tests/otel.rs: OTLP/gRPC
(opentelemetry.proto.collector.{trace,metrics}.v1 Export, grpcio) and
OTLP/HTTP (POST /v1/traces and /v1/metrics, protobuf) on 127.0.0.1,
ephemeral ports.

Prints "GRPC_PORT HTTP_PORT" on the first line of stdout, then one JSON
line per span received: trace_id, span_id, parent_id (hex), name, kind,
attributes (key -> value), status code, resource attributes, and the
protocol it came by; and one per histogram metric received ("metric":
its name, "points": attributes, count, sum, bucket_counts, bounds). Run with Debian's /usr/bin/python3 (python3-grpcio,
python3-protobuf) and opentelemetry-proto 1.20.0 installed. With --quiet
(loadtest/tracing.sh) only the ports line is printed."""

import json
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2 as ms,
    metrics_service_pb2_grpc as ms_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2 as ts,
    trace_service_pb2_grpc as ts_grpc,
)

LOCK = threading.Lock()
QUIET = "--quiet" in sys.argv[1:]


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(list_):
    return {kv.key: value(kv.value) for kv in list_}


def report(request, protocol):
    if QUIET:
        return
    lines = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                lines.append(json.dumps({
                    "protocol": protocol,
                    "scope": ss.scope.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_id": span.parent_span_id.hex(),
                    "trace_state": span.trace_state,
                    "name": span.name,
                    "kind": span.kind,
                    "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano,
                    "status": span.status.code,
                    "attributes": attributes(span.attributes),
                    "resource": resource,
                }))
    with LOCK:
        for line in lines:
            print(line)
        sys.stdout.flush()


def report_metrics(request, protocol):
    if QUIET:
        return
    lines = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points = [{
                    "attributes": attributes(p.attributes),
                    "count": p.count,
                    "sum": p.sum,
                    "bucket_counts": list(p.bucket_counts),
                    "bounds": list(p.explicit_bounds),
                    "start": p.start_time_unix_nano,
                    "time": p.time_unix_nano,
                } for p in metric.histogram.data_points]
                lines.append(json.dumps({
                    "protocol": protocol,
                    "metric": metric.name,
                    "unit": metric.unit,
                    "temporality": metric.histogram.aggregation_temporality,
                    "points": points,
                    "resource": resource,
                }))
    with LOCK:
        for line in lines:
            print(line)
        sys.stdout.flush()


class Metrics(ms_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        report_metrics(request, "grpc")
        return ms.ExportMetricsServiceResponse()


class Traces(ts_grpc.TraceServiceServicer):
    def Export(self, request, context):
        report(request, "grpc")
        return ts.ExportTraceServiceResponse()


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        protobuf = self.headers.get("Content-Type") == "application/x-protobuf"
        ok = protobuf and self.path in ("/v1/traces", "/v1/metrics")
        if ok and self.path == "/v1/traces":
            report(ts.ExportTraceServiceRequest.FromString(body), "http")
            answer = ts.ExportTraceServiceResponse().SerializeToString()
        elif ok:
            report_metrics(ms.ExportMetricsServiceRequest.FromString(body), "http")
            answer = ms.ExportMetricsServiceResponse().SerializeToString()
        else:
            answer = b""
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ts_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    ms_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    with LOCK:
        print(grpc_port, http.server_address[1])
        sys.stdout.flush()
    http.serve_forever()


if __name__ == "__main__":
    main()
