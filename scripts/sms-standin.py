#!/usr/bin/env python3
"""A stand-in for an SMS.ru-compatible SMS gateway, for tests and the
README's walk of scenario 2. `POST /sms/send` takes the form fields
api_id, to, msg and json=1 and answers in SMS.ru's JSON shape:

  {"status": "OK", "status_code": 100,
   "sms": {"79161234567": {"status": "OK", "status_code": 100, "sms_id": "..."}},
   "balance": 100.0}

A wrong api_id gets {"status": "ERROR", "status_code": 200, ...}; the number
79000000001 is refused (status_code 207); 79000000002 gets HTTP 503 on its
first message, then OK. `GET /_sent` lists the messages accepted so far as
JSON ([{"to": ..., "msg": ..., "sms_id": ...}]), for tests to read.

    python3 scripts/sms-standin.py --port 8766 --key demo-sms-key

prints `listening on http://127.0.0.1:PORT` and serves until killed.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

REFUSED = "79000000001"
FLAKY = "79000000002"


def make_handler(key):
    sent = []
    seen = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, body):
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_sent":
                with lock:
                    return self.answer(200, list(sent))
            return self.answer(404, {"message": f"no route {self.path}"})

        def do_POST(self):
            if self.path != "/sms/send":
                return self.answer(404, {"message": f"no route {self.path}"})
            length = int(self.headers.get("content-length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if form.get("api_id") != key:
                return self.answer(200, {"status": "ERROR", "status_code": 200,
                                         "status_text": "Неправильный api_id"})
            to, msg = form.get("to", ""), form.get("msg", "")
            if not to.isdigit() or not msg:
                return self.answer(200, {"status": "ERROR", "status_code": 202,
                                         "status_text": "Неправильно указан получатель или текст"})
            if to == REFUSED:
                return self.answer(200, {"status": "OK", "status_code": 100, "sms": {to: {
                    "status": "ERROR", "status_code": 207,
                    "status_text": "На этот номер нельзя отправлять сообщения"}}, "balance": 100.0})
            with lock:
                first = to not in seen
                seen.add(to)
                if to == FLAKY and first:
                    return self.answer(503, {"message": "try later"})
                sms_id = f"000000-{len(sent) + 1:08d}"
                sent.append({"to": to, "msg": msg, "sms_id": sms_id})
            return self.answer(200, {"status": "OK", "status_code": 100, "sms": {to: {
                "status": "OK", "status_code": 100, "sms_id": sms_id}}, "balance": 100.0})

        def log_message(self, fmt, *args):
            sys.stderr.write("sms-standin: " + (fmt % args) + "\n")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--key", default="demo-sms-key")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.key))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
