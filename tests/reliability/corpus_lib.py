"""The hostile input corpus (tests/reliability/corpus/*.json): loading a case, turning it
into the exact AMQP message it describes, publishing it, and judging what the worker did.

Used by test_corpus.py (one worker, one case at a time), fault_driver.py (a flood of
cases mixed into the load) and python_oracle.py (the same cases against Python Celery's
own worker, to say what Celery does). The file format is documented in README.md
beside this file; in short:

    {"description": "...",
     "python_celery": "what Celery 5.2.6's own worker does with it",
     "content_type": "application/json",      # default; null = property absent
     "content_encoding": "utf-8",             # default; null = property absent
     "properties": {"priority": 9},           # other AMQP properties, as given
     "headers": {"$v2": "celeriac.echo", "retries": "3", "$drop": ["eta"]},
     "body": "[[1], {}, null]",               # or body_latin1 / body_b64 / body_json / body_gen
     "result_id": "%ID%",                     # where the result is stored; default: headers.id
     "needs_llm": false,
     "expect": {"outcome": "failure", "exc_type": "DecodeError",
                "message": "not valid JSON", "dead_letter": true}}

`%ID%` anywhere (header strings, body) becomes a fresh uuid4 per publish and `%RAND%` 8
fresh hex digits, so a case can be sent many times (the driver does) and every copy has
a result of its own.
"""

import base64
import decimal
import glob
import json
import os
import pickle
import re
import time
import urllib.parse
import uuid
import zlib

import amqp

from corpus_values import echo_of, loads, same_value

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS_DIR = os.path.join(HERE, "corpus")
RESULT_PREFIX = "celery-task-meta-"
MIB = 1024 * 1024


# --- building messages ---------------------------------------------------------------

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


# --- publishing ------------------------------------------------------------------------

class RawPublisher:
    """Publishes exactly the bytes, properties and header table a case describes, with
    publisher confirms, through py-amqp (kombu's own AMQP transport). kombu's Producer
    would re-serialise a body whose content_type is empty, so it cannot send every case.
    """

    def __init__(self, broker_url, timeout=30):
        self.url, self.timeout = broker_url, timeout
        self.connect()

    def reconnect(self):
        self.close()
        self.connect()

    def connect(self):
        broker_url, timeout = self.url, self.timeout
        u = urllib.parse.urlparse(broker_url)
        vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
        self.conn = amqp.Connection(host="%s:%d" % (u.hostname, u.port or 5672),
                                    userid=urllib.parse.unquote(u.username or "guest"),
                                    password=urllib.parse.unquote(u.password or "guest"),
                                    virtual_host=vhost, confirm_publish=True,
                                    connect_timeout=timeout, read_timeout=timeout,
                                    write_timeout=timeout)
        self.conn.connect()
        self.channel = self.conn.channel()

    def publish(self, queue, built, exchange=""):
        msg = amqp.Message(body=built.body, application_headers=built.headers,
                           **built.properties)
        self.channel.basic_publish(msg, exchange=exchange, routing_key=queue)

    def ready(self, queue):
        """Messages ready in `queue` (a passive declare: fast, unlike rabbitmqctl).
        Raises amqp.exceptions.NotFound (and the channel is replaced) if there is none."""
        try:
            return self.channel.queue_declare(queue, passive=True).message_count
        except amqp.exceptions.NotFound:
            self.channel = self.conn.channel()
            raise

    def purge(self, queue):
        return self.channel.queue_purge(queue)

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing after a broker restart may fail
            pass


# --- judging -----------------------------------------------------------------------------

def result_key(task_id):
    if isinstance(task_id, bytes):
        return RESULT_PREFIX.encode() + task_id
    return RESULT_PREFIX + task_id


def read_result(redis_client, task_id):
    raw = redis_client.get(result_key(task_id))
    if raw is None:
        return None
    try:
        return loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        # Python's AsyncResult would fail the same way: report it as the outcome.
        return {"status": "UNREADABLE", "result": "%s: %r" % (e, raw[:200])}


def exception_text(result):
    """str() of the exception Python would raise from a stored FAILURE result."""
    if not isinstance(result, dict):
        return repr(result)
    args = result.get("exc_message")
    if isinstance(args, list):
        return " ".join(str(a) for a in args)
    return str(args)


def sent_args(built):
    """(args, kwargs) of a protocol 2 JSON body as Python reads them, after inflating a
    compressed one and dropping a byte order mark (None if it does not decode)."""
    try:
        body = built.body
        if isinstance(built.headers, dict) and built.headers.get("compression"):
            body = zlib.decompress(body)
        body = loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError, zlib.error):
        return None
    if isinstance(body, list) and len(body) == 3:
        return body[0], body[1]
    if isinstance(body, dict):
        return body.get("args", []), body.get("kwargs", {})
    return None


def judge(expect, built, doc):
    """(problems, matched): what is wrong with the stored result `doc` (the decoded
    celery-task-meta document, or None) against the case's expectation, as a list of
    strings (empty when fine), and the expectation (or the `any_of` alternative) that
    matched, whose `dead_letter` and `llm_calls` the caller checks next."""
    if "any_of" in expect:
        tried = []
        for alternative in expect["any_of"]:
            problems, matched = judge(alternative, built, doc)
            if not problems:
                return [], matched
            tried.append("; ".join(problems))
        return ["none of the accepted outcomes: " + " | ".join(tried)], None
    return _judge_one(expect, built, doc), expect


def _judge_one(expect, built, doc):
    outcome = expect["outcome"]
    state = doc.get("status") if isinstance(doc, dict) else None
    if outcome in ("no_result", "parked"):
        return [] if doc is None or state in ("PENDING", "RETRY") else [
            "expected no terminal result, found %s: %s" % (state, str(doc)[:300])]
    if doc is None:
        return ["no result stored (expected %s)" % outcome]
    want_state = {"failure": "FAILURE", "success": "SUCCESS", "revoked": "REVOKED"}[outcome]
    result = doc.get("result")
    if state != want_state:
        return ["state %s, expected %s: %s" % (state, want_state, str(result)[:300])]
    problems = []
    if outcome in ("failure", "revoked"):
        types = expect.get("exc_type")
        if isinstance(types, str):
            types = [types]
        got_type = result.get("exc_type") if isinstance(result, dict) else None
        if types and got_type not in types:
            problems.append("exc_type %r, expected one of %s" % (got_type, types))
        text = exception_text(result)
        if expect.get("message") and not re.search(expect["message"], text, re.I | re.S):
            problems.append("message %r does not match /%s/" % (text[:300], expect["message"]))
        if not text.strip():
            problems.append("the FAILURE has no message")
    if outcome == "success":
        if expect.get("echo"):
            args = sent_args(built)
            if args is None:
                problems.append("cannot decode what was sent to compare")
            elif not same_value(result, echo_of(*args)):
                problems.append("result %s differs from the echoed argument"
                                % str(result)[:200])
        if "result" in expect and not same_value(result, expect["result"]):
            problems.append("result %r, expected %r" % (str(result)[:200], expect["result"]))
        if "category" in expect:
            if not isinstance(result, dict) or result.get("overall_category") != expect["category"]:
                problems.append("analysis %s, expected overall_category %s"
                                % (str(result)[:200], expect["category"]))
    return problems


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def dead_letter_policy(rabbit, publisher, queue_pattern, exchange, dead_queue):
    """Gives every queue matching `queue_pattern` a dead-letter exchange through a
    RabbitMQ policy (a policy, not a queue argument, so the worker's own declaration of
    the queue stays as it is and no PRECONDITION_FAILED can follow), and binds
    `dead_queue` to that exchange to collect what is rejected without requeue."""
    ch = publisher.channel
    ch.exchange_declare(exchange, "fanout", durable=True, auto_delete=False)
    ch.queue_declare(dead_queue, durable=True, auto_delete=False)
    ch.queue_bind(dead_queue, exchange, routing_key="")
    rabbit.ctl("set_policy", "-p", "/", "dlx-" + exchange, queue_pattern,
               json.dumps({"dead-letter-exchange": exchange}), "--apply-to", "queues")
