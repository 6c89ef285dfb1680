#!/usr/bin/env python3
"""A stand-in for a DaData-compatible company registry, for tests and the
README's walk of scenario 2. It answers `POST /findById/party` and
`POST /findById/bank` in DaData's shape (suggestions[].value,
unrestricted_value, data.{inn, kpp, ogrn, ogrn_date, type, name, opf,
management, address, state, okved}) for a few known INNs:

  7707083893    ПАО СБЕРБАНК, active (KPP 773601001, OGRN 1027700132195)
  770712345633  ИП Иванов Иван Иванович, a sole trader (no KPP, `fio`)
  7702123454    ООО "ЗАКРЫТО", liquidated on 2021-03-15
  5002000012    ООО "ТЕРПЕНИЕ": answers 429 to its first request, then 200
  any other     suggestions: []

and BIK 044525225 (ПАО Сбербанк). A request without `Authorization: Token
<key>` for the key given with --key is refused with 401.

    python3 scripts/registry-standin.py --port 8765 --key demo-key

prints `listening on http://127.0.0.1:PORT` (the port chosen when 0) and
serves until killed; each request is logged on stderr as one line.
"""

import json
import threading

from standin_http import JsonHandler, run

MSK_MIDNIGHT = -3 * 3600 * 1000  # epoch ms of 00:00 Moscow time is 21:00 UTC


def ms(days_since_epoch):
    return days_since_epoch * 86400 * 1000 + MSK_MIDNIGHT


def party(inn, kpp, ogrn, ogrn_date, kind, short, full, opf, address, okved,
          status="ACTIVE", liquidation_date=None, management=None, fio=None):
    return {
        "value": short,
        "unrestricted_value": short,
        "data": {
            "inn": inn, "kpp": kpp, "ogrn": ogrn, "ogrn_date": ogrn_date,
            "type": kind,
            "name": {"full_with_opf": full, "short_with_opf": short},
            "opf": {"short": opf},
            "management": management,
            "fio": fio,
            "address": {"value": address, "unrestricted_value": address},
            "state": {"status": status, "liquidation_date": liquidation_date,
                      "actuality_date": liquidation_date},
            "okved": okved,
        },
    }


PARTIES = {
    "7707083893": party(
        "7707083893", "773601001", "1027700132195", ms(7840), "LEGAL",
        "ПАО СБЕРБАНК", 'ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО "СБЕРБАНК РОССИИ"', "ПАО",
        "117312, г Москва, ул Вавилова, д 19", "64.19",
        management={"name": "Греф Герман Оскарович",
                    "post": "ПРЕЗИДЕНТ, ПРЕДСЕДАТЕЛЬ ПРАВЛЕНИЯ"}),
    "770712345633": party(
        "770712345633", None, "316774600000128", ms(17000), "INDIVIDUAL",
        "ИП Иванов Иван Иванович", "Индивидуальный предприниматель Иванов Иван Иванович",
        "ИП", "г Москва", "62.01",
        fio={"surname": "Иванов", "name": "Иван", "patronymic": "Иванович"}),
    "7702123454": party(
        "7702123454", "770201001", "1057740000010", ms(12800), "LEGAL",
        'ООО "ЗАКРЫТО"', 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "ЗАКРЫТО"', "ООО",
        "г Москва", "47.11", status="LIQUIDATED", liquidation_date=ms(18701)),
    "5002000012": party(
        "5002000012", "500201001", "1027700132195", ms(11000), "LEGAL",
        'ООО "ТЕРПЕНИЕ"', 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "ТЕРПЕНИЕ"', "ООО",
        "Московская обл, г Балашиха", "46.90",
        management={"name": "Терпилов Пётр Петрович", "post": "ГЕНЕРАЛЬНЫЙ ДИРЕКТОР"}),
}
SLOW_FIRST = {"5002000012"}

BANKS = {
    "044525225": {
        "value": "ПАО Сбербанк",
        "unrestricted_value": "ПАО Сбербанк",
        "data": {"bic": "044525225", "name": {"payment": "ПАО СБЕРБАНК", "short": "СБЕРБАНК"},
                 "correspondent_account": "30101810400000000225"},
    },
}


def make_handler(key):
    seen = set()
    lock = threading.Lock()

    class Handler(JsonHandler):
        name = "registry-standin"

        def do_POST(self):
            try:
                body = json.loads(self.body() or b"{}")
            except ValueError:
                return self.answer(400, {"message": "the body is not JSON"})
            if self.headers.get("authorization") != f"Token {key}":
                return self.answer(401, {"message": "Invalid API key"})
            query = str(body.get("query", ""))
            if self.path.endswith("/findById/party"):
                with lock:
                    first = query not in seen
                    seen.add(query)
                if first and query in SLOW_FIRST:
                    return self.answer(429, {"message": "Too many requests"})
                found = PARTIES.get(query)
                if found and body.get("kpp") and found["data"]["kpp"] != body["kpp"]:
                    found = None
                return self.answer(200, {"suggestions": [found] if found else []})
            if self.path.endswith("/findById/bank"):
                found = BANKS.get(query)
                return self.answer(200, {"suggestions": [found] if found else []})
            return self.answer(404, {"message": f"no route {self.path}"})

    return Handler


def main():
    run(make_handler, __doc__.split("\n")[0], 8765, "demo-key")


if __name__ == "__main__":
    main()
