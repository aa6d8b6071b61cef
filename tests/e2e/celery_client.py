"""Helpers shared by the e2e tests: a real Celery client app and raw publishing."""

import json
import uuid

import kombu
from celery import Celery


def client(broker_url, backend_url):
    app = Celery("celeriac-e2e", broker=broker_url, backend=backend_url)
    app.conf.broker_connection_retry_on_startup = True
    return app


def publish_raw(broker_url, queue, body, headers=None, content_type="application/json",
                content_encoding="utf-8", properties=None):
    """Publishes one message exactly as given (for malformed and hand-built cases).

    With kombu's retry on connection errors, as Celery's own send_task publishes: on a
    loaded CI machine RabbitMQ has reset a client's fresh connection during the
    handshake now and then, which is the client's problem to retry, not the worker's.
    """
    with kombu.Connection(broker_url) as conn:
        producer = conn.Producer()
        producer.publish(body, routing_key=queue, exchange="", headers=headers or {},
                         content_type=content_type, content_encoding=content_encoding,
                         delivery_mode=2, retry=True,
                         retry_policy={"max_retries": 5, "interval_start": 0.2,
                                       "interval_step": 0.5, "interval_max": 2},
                         **(properties or {}))


def v2_headers(task, task_id=None, **extra):
    task_id = task_id or str(uuid.uuid4())
    headers = {"lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None,
               "expires": None, "group": None, "group_index": None, "retries": 0,
               "timelimit": [None, None], "root_id": task_id, "parent_id": None,
               "argsrepr": "()", "kwargsrepr": "{}", "origin": "e2e@test",
               "ignore_result": False}
    headers.update(extra)
    return headers


def v2_body(args=(), kwargs=None):
    return json.dumps([list(args), kwargs or {},
                       {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
