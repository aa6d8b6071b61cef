"""A Python Celery app with celeriac's built-in task names and the per-task options
test_task_options_e2e.py gives celeriac through --tasks-config (TASK_OPTIONS_YAML there
says the same in YAML), so CELERIAC_E2E_WORKER=python runs those tests against Celery
5.2.6 itself. Broker and backend come from CELERIAC_E2E_BROKER / CELERIAC_E2E_BACKEND.
"""

import builtins
import os
import time

from celery import Celery

app = Celery("task_options_python_app", broker=os.environ.get("CELERIAC_E2E_BROKER"),
             backend=os.environ.get("CELERIAC_E2E_BACKEND"))
app.conf.broker_connection_retry_on_startup = True
app.conf.worker_hijack_root_logger = False
app.conf.task_queue_max_priority = 10  # as celeriac's --queue-max-priority 10


@app.task(name="celeriac.echo", ignore_result=True)
def echo(*args, **kwargs):
    if len(args) == 1:
        return args[0]
    if not args and kwargs:
        return kwargs
    return list(args)


@app.task(name="celeriac.sleep", soft_time_limit=1)
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="celeriac.fail", autoretry_for=(ValueError,), retry_backoff=True,
          retry_jitter=False, max_retries=2)
def fail(message, exc_type="RuntimeError"):
    raise getattr(builtins, exc_type)(message)


@app.task(name="celeriac.retry", bind=True, rate_limit="1/h")
def retry(self, countdown=None, succeed_after=None):
    if succeed_after is not None and self.request.retries >= succeed_after:
        return {"retries": self.request.retries}
    raise self.retry(exc=RuntimeError("retry %d" % self.request.retries), countdown=countdown)
