"""Sending tasks with the real Python Celery client, and seeing their results arrive.

What for: bench/run enqueues every task through Celery's own `send_task` (the client the
users have), from a few publisher processes (one Python process cannot send 2,500
tasks/s on this machine), either as fast as possible or paced open-loop at a rate. It
notes the wall-clock time of each send; ResultListener notes when each result became
readable (every worker here PUBLISHes the result on its key right after the SET, as
Celery's Redis backend does). What not: judging the figures (workloads.py).
"""

import json
import multiprocessing
import threading
import time

import redis as redis_py

IMAGE = "https://example.com/uploads/photo-123.jpg"


def echo_call(i):
    return "celeriac.echo", [{"x": i}], {}


def analyze_call(i):
    return "gpt5_analyzer.analyze", [], {"image": IMAGE, "user_id": "u-%d" % i,
                                         "locale": "ko"}


def _publisher(broker_url, queue, call, first, n, step, start_at, rate, out):
    from celery import Celery
    app = Celery(broker=broker_url)
    sent = []
    with app.producer_or_acquire() as producer:
        while time.time() < start_at:
            time.sleep(0.001)
        for k, i in enumerate(range(first, n, step)):
            if rate:
                due = start_at + k / rate
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
            name, args, kwargs = call(i)
            t = time.time()
            r = app.send_task(name, args=args, kwargs=kwargs, queue=queue,
                              producer=producer)
            sent.append((r.id, t))
    out.put(sent)


def publish(broker_url, queue, call, n, rate=None, procs=None):
    """Sends n tasks from `procs` processes (paced at `rate` tasks/s in all when given);
    returns {task_id: send time} and the seconds the sending took."""
    procs = procs or (2 if rate is not None and rate < 500 else 4)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 1.0  # every publisher connected before the first send
    ps = [ctx.Process(target=_publisher,
                      args=(broker_url, queue, call, k, n, procs, start_at,
                            rate / procs if rate else None, out))
          for k in range(procs)]
    for p in ps:
        p.start()
    sent = {}
    for _ in ps:
        sent.update(out.get())
    for p in ps:
        p.join()
    return sent, max(t for t in sent.values()) - start_at if sent else 0.0


class ResultListener:
    """Subscribes to every `celery-task-meta-*` publication: {task_id: (time, status)}."""

    def __init__(self, redis_url):
        self.results = {}
        self._r = redis_py.Redis.from_url(redis_url)
        self._ps = self._r.pubsub(ignore_subscribe_messages=True)
        self._ps.psubscribe("celery-task-meta-*")
        while self._ps.get_message(timeout=1.0) is None and not self._ps.subscribed:
            pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            msg = self._ps.get_message(timeout=0.2)
            if msg is None or msg["type"] != "pmessage":
                continue
            now = time.time()
            task_id = msg["channel"].decode()[len("celery-task-meta-"):]
            try:
                status = json.loads(msg["data"]).get("status")
            except ValueError:
                status = "?"
            if status in ("SUCCESS", "FAILURE") and task_id not in self.results:
                self.results[task_id] = (now, status)

    def count_of(self, task_ids):
        """How many of `task_ids` (a set or dict of ids) have a result."""
        return sum(1 for task_id in list(self.results) if task_id in task_ids)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._ps.close()
        self._r.close()
