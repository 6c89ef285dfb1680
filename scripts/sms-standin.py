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

import json
import threading

from urllib.parse import parse_qs

from standin_http import JsonHandler, run

REFUSED = "79000000001"
FLAKY = "79000000002"


def make_handler(key):
    sent = []
    seen = set()
    lock = threading.Lock()

    class Handler(JsonHandler):
        name = "sms-standin"

        def do_GET(self):
            if self.path == "/_sent":
                with lock:
                    return self.answer(200, list(sent))
            return self.answer(404, {"message": f"no route {self.path}"})

        def do_POST(self):
            if self.path != "/sms/send":
                return self.answer(404, {"message": f"no route {self.path}"})
            form = {k: v[0] for k, v in parse_qs(self.body().decode()).items()}
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

    return Handler


def main():
    run(make_handler, __doc__.split("\n")[0], 8766, "demo-sms-key")


if __name__ == "__main__":
    main()
