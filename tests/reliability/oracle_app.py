"""A Python Celery app with the same task names as celeriac's built-ins, for
python_oracle.py: what Celery 5.2.6's own worker does with each corpus case."""

import os
import time

from celery import Celery

app = Celery("oracle", broker=os.environ.get("ORACLE_BROKER"),
             backend=os.environ.get("ORACLE_BACKEND"))
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
