"""Judging what the worker did with a corpus message: reading the stored
celery-task-meta document, and checking it against the case's expectation (state,
exception type and message, the echoed value), as Python Celery's client would see it.
Part of corpus_lib.py (see its docstring).
"""

import re
import time
import zlib

from corpus_values import echo_of, loads, same_value

RESULT_PREFIX = "celery-task-meta-"


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
