"""A Python Celery app with celeriac's built-in task names, for test_operator_e2e.py.

Two uses: `celery -A operator_python_app worker ...` is the Python Celery 5.2.6 worker
the operator tests can be pointed at (CELERIAC_E2E_WORKER=python), so every test is
first shown to hold for Celery itself; and `celery -A operator_python_app inspect ...`
is the operator's CLI against either worker (the CLI is only a client then).

Broker and result backend come from CELERIAC_E2E_BROKER / CELERIAC_E2E_BACKEND. The
task semantics are those of tests/reliability/oracle_app.py (celeriac's echo, sleep,
fail).
"""

import os
import time

from celery import Celery

app = Celery("operator_python_app", broker=os.environ.get("CELERIAC_E2E_BROKER"),
             backend=os.environ.get("CELERIAC_E2E_BACKEND"))
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_hijack_root_logger = False


@app.task(name="celeriac.echo")
def echo(*args, **kwargs):
    if len(args) == 1:
        return args[0]
    if not args and kwargs:
        return kwargs
    return list(args)


@app.task(name="celeriac.sleep")
def sleep(seconds):
    if not 0 <= seconds <= 86400:
        raise ValueError("sleep() seconds must be between 0 and 86400")
    time.sleep(seconds)
    return seconds


@app.task(name="celeriac.fail")
def fail(message, exc_type="RuntimeError"):
    raise RuntimeError(message)
