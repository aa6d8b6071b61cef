"""Helpers shared by the e2e tests: a real Celery client app and raw publishing."""

import json
import sys
import time
import uuid

import kombu
import kombu.exceptions
from celery import Celery


def client(broker_url, backend_url):
    app = Celery("celeriac-e2e", broker=broker_url, backend=backend_url)
    app.conf.broker_connection_retry_on_startup = True
    return app


def publish_raw(broker_url, queue, body, headers=None, content_type="application/json",
                content_encoding="utf-8", properties=None, attempts=8):
    """Publishes one message exactly as given (for malformed and hand-built cases).

    A failure to connect is retried on a fresh connection, as Celery's send_task retries
    its publishes: on a loaded CI machine RabbitMQ has now and then reset a client's new
    connection during the handshake (kombu then raises OperationalError, which its own
    retry policy does not cover). That is the client's to retry, not the worker's.
    """
    for attempt in range(attempts):
        conn = kombu.Connection(broker_url)
        try:
            channel = conn.default_channel  # connects; nothing is published yet
        except (kombu.exceptions.OperationalError, ConnectionError) as exc:
            conn.release()
            if attempt + 1 == attempts:
                raise
            print("publish_raw: %r; retrying on a new connection" % exc, file=sys.stderr)
            time.sleep(0.5 * (attempt + 1))
            continue
        try:
            # Not retried once connected: a retried publish could send the message twice.
            kombu.Producer(channel).publish(
                body, routing_key=queue, exchange="", headers=headers or {},
                content_type=content_type, content_encoding=content_encoding,
                delivery_mode=2, **(properties or {}))
        finally:
            conn.release()
        return


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
