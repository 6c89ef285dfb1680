"""What the stand-in services of this folder share: a handler that answers
JSON and logs one line a request on stderr, and the command line that
starts one on loopback and prints its address."""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """A handler whose answers are JSON documents."""

    name = "standin"

    def answer(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length)

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.name}: " + (fmt % args) + "\n")


def run(make_handler, description, port, key):
    """Parses --port and --key (defaults `port` and `key`), serves the
    handler `make_handler(key)` makes on 127.0.0.1 until killed, and prints
    `listening on http://127.0.0.1:PORT` first (the port chosen when 0)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--key", default=key)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.key))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
