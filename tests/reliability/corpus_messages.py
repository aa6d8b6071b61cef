"""Corpus cases and the messages they describe: loading corpus/*.json, and turning a case
into the exact AMQP message (properties, header table, body bytes) and the id its result
is stored under, with %ID% and %RAND% fresh on every build. Bodies too big or too deep to
check in are generated here. Part of corpus_lib.py, whose docstring (and README.md beside
this file) gives the case format.
"""

import base64
import decimal
import glob
import json
import os
import pickle
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS_DIR = os.path.join(HERE, "corpus")
MIB = 1024 * 1024


def v2_headers(task, task_id):
    """The headers Celery 5.2's send_task puts on a protocol 2 message."""
    return {"lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None,
            "expires": None, "group": None, "group_index": None, "retries": 0,
            "timelimit": [None, None], "root_id": task_id, "parent_id": None,
            "argsrepr": "()", "kwargsrepr": "{}", "origin": "gen1@corpus",
            "ignore_result": False}


EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _nested(depth, leaf, wrap):
    # Built as text: json.dumps of a 100,000-deep value would exceed Python's recursion.
    return wrap[0] * depth + leaf + wrap[1] * depth


def _png_like(n_bytes, seed=7):
    # Bytes that look like a PNG (signature first); content does not matter to anyone.
    head = b"\x89PNG\r\n\x1a\n"
    block = bytes((seed * 31 + i * 17) & 0xFF for i in range(4096))
    reps = (n_bytes - len(head)) // len(block) + 1
    return (head + block * reps)[:n_bytes]


def data_url(n_image_bytes):
    return "data:image/png;base64," + base64.b64encode(_png_like(n_image_bytes)).decode()


def generate_body(gen):
    """Bodies too big or too deep to check in, made at run time."""
    kind = gen["kind"]
    if kind == "nested_arrays":  # args = [[[[...]]]]
        return ("[" + _nested(gen["depth"], "1", "[]") + ", {}, null]").encode()
    if kind == "nested_objects":  # kwargs = {"a": {"a": ... 1}}
        inner = '{"a": ' * gen["depth"] + "1" + "}" * gen["depth"]
        return ('[[], {"deep": ' + inner + "}, null]").encode()
    if kind == "echo_string":  # one string argument of `bytes` bytes
        return ('[["' + "x" * gen["bytes"] + '"], {}, null]').encode()
    if kind == "big_integer":  # one integer argument of `digits` digits
        return ("[[" + "9" * gen["digits"] + "], {}, null]").encode()
    if kind == "wide_array":  # one argument: a list of n zeros
        return ("[[[" + ",".join(["0"] * gen["n"]) + "]], {}, null]").encode()
    if kind == "many_keys":  # kwargs with n keys
        keys = ",".join('"k%d": %d' % (i, i) for i in range(gen["n"]))
        return ("[[], {" + keys + "}, null]").encode()
    if kind == "analyze_data_url":  # analyze(image=<data URL of image_bytes>, ...)
        kwargs = {"image": data_url(gen["image_bytes"]), "user_id": "corpus-%RAND%",
                  "hint": gen.get("hint", "a glass jar") + " ctid=%ID%"}
        if gen.get("break_base64_at") is not None:
            at = gen["break_base64_at"]
            kwargs["image"] = kwargs["image"][:at] + " !" + kwargs["image"][at + 2:]
        return json.dumps([[], kwargs, EMBED]).encode()
    if kind == "pickle":  # what Celery's pickle serializer sends (protocol 2 body)
        return pickle.dumps((gen.get("args", [1]), {}, EMBED), protocol=2)
    if kind == "zlib_json":  # kombu's gzip compression is a zlib stream
        return zlib.compress(json.dumps(gen["value"]).encode())
    if kind == "file":  # a file under the repository root, e.g. a fixture
        with open(os.path.join(ROOT, gen["path"]), "rb") as f:
            return f.read()
    raise ValueError("unknown body_gen kind %r" % kind)


def _substitute_text(text, ids):
    return text.replace("%ID%", ids["id"]).replace("%RAND%", ids["rand"])


def _header_value(value, ids):
    """Header values with tags for what JSON cannot say (see README.md)."""
    if isinstance(value, str):
        return _substitute_text(value, ids)
    if isinstance(value, list):
        return [_header_value(v, ids) for v in value]
    if isinstance(value, dict):
        if "$latin1" in value:  # bytes given as U+0000..U+00FF characters
            return _substitute_text(value["$latin1"], ids).encode("latin-1")
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
        if "$decimal" in value:
            return decimal.Decimal(value["$decimal"])
        if "$float" in value:
            return float(value["$float"])
        if "$timestamp" in value:  # AMQP 'T' (py-amqp writes datetimes so)
            import datetime
            return datetime.datetime.fromtimestamp(value["$timestamp"], datetime.timezone.utc)
        if "$repeat" in value:
            return (value["$repeat"] * value["times"]
                    + _substitute_text(value.get("suffix", ""), ids))
        if "$nested_list" in value:
            v = value.get("leaf", 1)
            for _ in range(value["$nested_list"]):
                v = [v]
            return v
        return {k: _header_value(v, ids) for k, v in value.items()}
    return value


class Built:
    """One message ready to publish, and where its result will be."""

    def __init__(self, case, properties, headers, body, result_id):
        self.case = case
        self.properties = properties
        self.headers = headers
        self.body = body
        self.result_id = result_id

    @property
    def expect(self):
        return self.case.expect


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            self.spec = json.load(f)
        self.expect = self.spec["expect"]
        self.needs_llm = bool(self.spec.get("needs_llm"))
        self.slow = bool(self.spec.get("slow"))  # multi-MB or very deep: flood sparingly

    def __repr__(self):
        return "Case(%s)" % self.name

    def build(self):
        ids = {"id": str(uuid.uuid4()), "rand": uuid.uuid4().hex[:8]}
        spec = self.spec
        headers = {}
        raw_headers = dict(spec.get("headers", {}))
        task = raw_headers.pop("$v2", None)
        drop = raw_headers.pop("$drop", [])
        many = raw_headers.pop("$many", None)
        if task is not None:
            headers = v2_headers(task, ids["id"])
        if many:  # {"prefix": "x-h", "count": N}: N small custom headers
            for i in range(many["count"]):
                headers["%s%d" % (many["prefix"], i)] = i
        for key, value in raw_headers.items():
            headers[key] = _header_value(value, ids)
        for key in drop:
            headers.pop(key, None)

        if "body" in spec:
            body = spec["body"].encode("utf-8")
        elif "body_latin1" in spec:
            body = spec["body_latin1"].encode("latin-1")
        elif "body_b64" in spec:
            body = base64.b64decode(spec["body_b64"])
        elif "body_json" in spec:
            body = json.dumps(spec["body_json"]).encode()
        elif "body_gen" in spec:
            body = generate_body(spec["body_gen"])
        else:
            body = b""
        if b"%ID%" in body or b"%RAND%" in body:
            body = body.replace(b"%ID%", ids["id"].encode()).replace(b"%RAND%", ids["rand"].encode())

        properties = {"delivery_mode": 2}
        for key, default in (("content_type", "application/json"),
                             ("content_encoding", "utf-8")):
            value = spec.get(key, default)
            if value is not None:
                properties[key] = value
        for key, value in spec.get("properties", {}).items():
            properties[key] = _header_value(value, ids)
        if "result_id" in spec:
            rid = spec["result_id"]
            result_id = None if rid is None else _substitute_text(rid, ids)
        else:  # the id header, also as raw bytes (a key a str-speaking client cannot name)
            hid = headers.get("id")
            result_id = hid if isinstance(hid, (str, bytes)) and hid else None
        return Built(self, properties, headers, body, result_id)


def load_cases(names=None):
    cases = [Case(p) for p in sorted(glob.glob(os.path.join(CORPUS_DIR, "*.json")))]
    if names:
        wanted = set(names)
        cases = [c for c in cases if c.name in wanted]
    return cases
