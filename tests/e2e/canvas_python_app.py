"""The Python side of test_canvas_e2e.py: a Python Celery 5.2.6 app whose worker serves
queue `py` (pyapp.* tasks) next to celeriac in mixed canvases, and, when the canvas
tests run against Python Celery (CELERIAC_E2E_WORKER=python), also serves the task names
celeriac serves (celeriac.echo, celeriac.fail, gpt5_analyzer.analyze) on their queues.

Broker and result backend come from CELERIAC_E2E_BROKER / CELERIAC_E2E_BACKEND.
"""

import os

import redis
from celery import Celery

app = Celery("canvas_python_app", broker=os.environ.get("CELERIAC_E2E_BROKER"),
             backend=os.environ.get("CELERIAC_E2E_BACKEND"))
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_hijack_root_logger = False
# The worker that runs a step publishes the next one: it routes as the client does.
app.conf.task_routes = {"pyapp.*": {"queue": "py"}, "celeriac.*": {"queue": "celeriac"},
                        "gpt5_analyzer.*": {"queue": "gpt5-analyzer"}}


@app.task(name="pyapp.add")
def add(x, y):
    return x + y


@app.task(name="pyapp.collect")
def collect(*args):
    """Returns what it was given: a chord body's list of header results."""
    return args[0] if len(args) == 1 else list(args)


@app.task(name="pyapp.record_errback")
def record_errback(task_id, **options):
    """An old-style errback (one positional argument, so Celery publishes it rather
    than calling it with (request, exc, traceback)): notes the task id it got."""
    key = "canvas-errbacks:" + options["marker"]
    redis.Redis.from_url(app.conf.result_backend).rpush(key, task_id)
    return task_id


# celeriac's task names, for runs against Python Celery (same semantics as celeriac's).
@app.task(name="celeriac.echo")
def echo(*args, **kwargs):
    if len(args) == 1:
        return args[0]
    if not args and kwargs:
        return kwargs
    return list(args)


@app.task(name="celeriac.fail")
def fail(message, exc_type="RuntimeError"):
    raise RuntimeError(message)


@app.task(name="gpt5_analyzer.analyze")
def analyze(image, user_id, locale="en", hint=None):
    return {"labels": [], "user_id": user_id, "image": image}
