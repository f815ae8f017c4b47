"""A GraphQL server for tests/graphql.rs (graphene 2.1.9, Debian's
python3-graphene; run with /usr/bin/python3).

Serves the GraphQL-over-HTTP forms KrakenD's client sends: POST with a JSON
body {"query", "variables", "operationName"}, and GET with them in the
query string. Answers 200 with {"data": ..., "errors": [...]} as graphene
executes it. GET /__seen returns every GraphQL request it received
(method, target, content type, body) for the test to inspect.

Prints its port on the first line of stdout.
"""

import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import graphene


class User(graphene.ObjectType):
    id = graphene.ID()
    name = graphene.String()


class Query(graphene.ObjectType):
    user = graphene.Field(User, id=graphene.ID(required=True))
    echo = graphene.String(text=graphene.String(required=True))
    slow = graphene.String(seconds=graphene.Float(required=True))

    def resolve_user(self, info, id):
        if id == "missing":
            raise Exception("no user " + id)
        return User(id=id, name="user " + id)

    def resolve_echo(self, info, text):
        return text

    def resolve_slow(self, info, seconds):
        time.sleep(seconds)
        return "done"


class AddUser(graphene.Mutation):
    class Arguments:
        name = graphene.String(required=True)
        age = graphene.Int()

    id = graphene.ID()
    name = graphene.String()
    age = graphene.Int()

    def mutate(self, info, name, age=None):
        return AddUser(id="u-" + name, name=name, age=age)


class Mutation(graphene.ObjectType):
    add_user = AddUser.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)
seen = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def run(self, request):
        result = schema.execute(
            request.get("query") or "",
            variables=request.get("variables"),
            operation_name=request.get("operationName"),
        )
        document = {"data": result.data}
        if result.errors:
            document["errors"] = [{"message": str(e)} for e in result.errors]
        self.answer(200, document)

    def record(self, body):
        with lock:
            seen.append(
                {
                    "method": self.command,
                    "target": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                }
            )

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__seen":
            with lock:
                self.answer(200, list(seen))
            return
        self.record("")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if "variables" in query:
            query["variables"] = json.loads(query["variables"])
        self.run(query)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.record(body)
        try:
            request = json.loads(body)
        except ValueError:
            self.answer(400, {"errors": [{"message": "body is not JSON"}]})
            return
        self.run(request)


def main():
    # graphene logs every resolver error with its traceback.
    logging.disable(logging.CRITICAL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
