"""A gRPC server for tests/grpc.rs: serves cuttle.test.Zoo
(tests/support/grpc_test.proto) on 127.0.0.1, plain-text HTTP/2.

Usage: grpc_server.py GENERATED_DIR
GENERATED_DIR holds grpc_test_pb2.py (protoc --python_out). The port is
printed on the first line of stdout. Run with Debian's /usr/bin/python3
(python3-grpcio, python3-protobuf)."""

import sys
import threading
from concurrent import futures

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
import grpc_test_pb2 as pb  # noqa: E402

STOP = threading.Event()


def find(request, context):
    if request.id == "missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no animal " + request.id)
    metadata = dict(context.invocation_metadata())
    animal = pb.Animal(
        id=request.id,
        name=request.name,
        kind=pb.KIND_BIRD,
        count=request.count,
        tags=request.tags,
        tenant=metadata.get("tenant", ""),
    )
    if request.HasField("where"):
        animal.where.CopyFrom(request.where)
    animal.seen.seconds = 1700000000
    animal.age.seconds = 1
    animal.age.nanos = 500000000
    return animal


def hang(request, context):
    # Tells the test the call is held.
    print("hang", flush=True)
    STOP.wait(60)
    return pb.Animal()


def watch(request, context):
    yield pb.Animal()


def handler(function):
    return grpc.unary_unary_rpc_method_handler(
        function,
        request_deserializer=pb.FindRequest.FromString,
        response_serializer=pb.Animal.SerializeToString,
    )


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    service = grpc.method_handlers_generic_handler(
        "cuttle.test.Zoo",
        {
            "Find": handler(find),
            "Hang": handler(hang),
            "Watch": grpc.unary_stream_rpc_method_handler(
                watch,
                request_deserializer=pb.FindRequest.FromString,
                response_serializer=pb.Animal.SerializeToString,
            ),
        },
    )
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        # Ends when the test closes stdin or kills the process.
        sys.stdin.read()
    finally:
        STOP.set()
        server.stop(0)


if __name__ == "__main__":
    main()
