"""The Python Celery contender's tasks for bench/run: the same work celeriac does.

`celeriac.echo(x)` returns its argument. `gpt5_analyzer.analyze(image, user_id, locale,
hint=None, routing=None)` sends the same chat completion celeriac sends (the worker's
own prompts from worker/tasks/prompts/, the photo as an image part, JSON mode) to one of
the endpoints in BENCH_ENDPOINTS, parses the model's JSON and returns it with a `meta`,
as a hand-written Python task would. There is no balancer: endpoints are taken in turn
(one counter per process); a 429 waits its Retry-After (at most 10 s) and a 5xx or a
connection error moves to the next endpoint, three attempts in all, then the task fails.

Configured by the environment bench/run sets: BENCH_BROKER, BENCH_BACKEND,
BENCH_ENDPOINTS (JSON list of {"url", "key"}). Started as `celery -A bench_tasks worker`.
"""

import itertools
import json
import os
import time

import urllib3
from celery import Celery

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPTS = os.path.join(HERE, "..", "..", "worker", "tasks", "prompts")

app = Celery("bench_tasks", broker=os.environ.get("BENCH_BROKER"),
             backend=os.environ.get("BENCH_BACKEND"))
app.conf.result_expires = 86400

ENDPOINTS = json.loads(os.environ.get("BENCH_ENDPOINTS", "[]"))
_turn = itertools.count()
_http = None


def _pool():
    global _http
    if _http is None:  # after the fork, so prefork children do not share sockets
        _http = urllib3.PoolManager(maxsize=int(os.environ.get("BENCH_HTTP_POOL", "100")),
                                    block=False, retries=False,
                                    timeout=urllib3.Timeout(connect=10, read=60))
    return _http


def _read(name):
    with open(os.path.join(PROMPTS, name)) as f:
        return f.read()


SYSTEM = _read("analyze_system.txt")
USER = _read("analyze_user.txt")


@app.task(name="celeriac.echo")
def echo(x):
    return x


@app.task(name="gpt5_analyzer.analyze")
def analyze(image, user_id, locale="ko", hint=None, routing=None):
    user_text = USER.replace("{{locale}}", locale).replace("{{hint}}", hint or "none")
    body = json.dumps({
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": SYSTEM},
                     {"role": "user", "content": [
                         {"type": "text", "text": user_text},
                         {"type": "image_url", "image_url": {"url": image}}]}],
        "response_format": {"type": "json_object"},
        "max_tokens": 1024, "user": user_id}).encode()
    started = time.time()
    last_error = "no endpoint"
    for attempt in range(1, 4):
        ep = ENDPOINTS[next(_turn) % len(ENDPOINTS)]
        try:
            resp = _pool().request("POST", ep["url"] + "/chat/completions", body=body,
                                   headers={"Authorization": "Bearer " + ep["key"],
                                            "Content-Type": "application/json"})
        except urllib3.exceptions.HTTPError as e:
            last_error = "connection: %s" % type(e).__name__
            continue
        if resp.status == 200:
            answer = json.loads(resp.data)
            result = json.loads(answer["choices"][0]["message"]["content"])
            result["meta"] = {"model": answer["model"], "endpoint": ep["url"],
                              "attempts": attempt, "latency_ms": int((time.time() - started)
                                                                     * 1000)}
            return result
        last_error = "HTTP %d" % resp.status
        if resp.status == 429:
            time.sleep(min(float(resp.headers.get("Retry-After", "1")), 10.0))
    raise RuntimeError("LLM call failed after 3 attempts: %s" % last_error)
