"""End-to-end hardening: ordinary messages that used to take a worker down,
sent with Debian's Python Celery against a real celeriac, RabbitMQ and Redis.

Each case was a crash before its fix, and with late acks a crash is redelivered to the
next replica, and the next: a worker must never die of one message.
"""

import json
import math
import os
import signal
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import redis as redis_py  # noqa: E402

import testenv  # noqa: E402
from celery_client import publish_raw, v2_headers  # noqa: E402
from test_worker_e2e import SharedServers, unique_queue  # noqa: E402


def close_worker_connections(rabbit):
    """Closes every client connection on the node from the broker's side (as an
    operator's `rabbitmqctl close_connection` or a broker failover does)."""
    out = rabbit.ctl("-q", "list_connections", "pid", "--no-table-headers", capture=True)
    pids = [line.strip() for line in out.splitlines() if line.strip().startswith("<")]
    for pid in pids:
        rabbit.ctl("close_connection", pid, "e2e: closed by the test", check=False)
    return len(pids)


class NumbersPythonWrites(SharedServers):
    """Python's json writes integers of any size and NaN/Infinity; Celery returns them."""

    def test_an_integer_past_a_doubles_range_round_trips(self):
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        big = 10 ** 400
        self.assertEqual(app.send_task("celeriac.echo", args=[big], queue=q).get(timeout=15), big)
        self.assertEqual(app.send_task("celeriac.echo", args=[2 ** 70], queue=q).get(timeout=15),
                         2 ** 70)
        self.assertIsNone(w.proc.poll(), "worker died:\n" + w.log_text())

    def test_non_finite_floats_round_trip(self):
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        self.assertEqual(app.send_task("celeriac.echo", args=[float("inf")], queue=q)
                         .get(timeout=15), float("inf"))
        self.assertTrue(math.isnan(app.send_task("celeriac.echo", args=[float("nan")], queue=q)
                                   .get(timeout=15)))
        # A float literal that overflows a double: Python's json reads it as inf.
        task_id = str(uuid.uuid4())
        publish_raw(self.rabbit.url, q, '[[1e999], {}, {"callbacks": null, "errbacks": null, '
                    '"chain": null, "chord": null}]', headers=v2_headers("celeriac.echo", task_id))
        self.assertEqual(app.AsyncResult(task_id).get(timeout=15), float("inf"))
        self.assertIsNone(w.proc.poll(), "worker died:\n" + w.log_text())


class BigMessages(SharedServers):
    def test_a_body_over_max_message_size_fails_clearly_and_is_not_requeued(self):
        q = unique_queue()
        w = self.start_worker(q, extra=["--max-message-size", "1MiB"])
        app = self.app()
        r = app.send_task("celeriac.echo", args=["x" * (2 << 20)], queue=q)
        with self.assertRaises(Exception) as raised:
            r.get(timeout=30)
        self.assertEqual(type(raised.exception).__name__, "InvalidTaskError")
        self.assertIn("--max-message-size", str(raised.exception))
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))
        # Under the limit, a large body still runs.
        self.assertEqual(len(app.send_task("celeriac.echo", args=["y" * (512 << 10)], queue=q)
                             .get(timeout=30)), 512 << 10)
        self.assertIsNone(w.proc.poll(), "worker died:\n" + w.log_text())


class BrokerLossWhileHolding(SharedServers):
    def test_connection_closed_while_a_countdown_task_is_held(self):
        # The held ETA task made the broken-connection handler send basic.qos on a
        # connection that was already destroyed: SIGSEGV, on every replica in turn.
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        r = app.send_task("celeriac.echo", args=["held"], queue=q, countdown=8)
        self.assertTrue(w.wait_log("scheduled task_id=" + r.id), w.log_text())
        self.assertGreater(close_worker_connections(self.rabbit), 0)
        self.assertTrue(w.wait_log("broker connection lost"), w.log_text())
        self.assertEqual(r.get(timeout=60), "held")
        self.assertIsNone(w.proc.poll(), "worker died:\n" + w.log_text())
        self.assertEqual(app.send_task("celeriac.echo", args=[1], queue=q).get(timeout=15), 1)


class PoisonMessages(SharedServers):
    def test_a_message_whose_runs_keep_killing_workers_fails_with_worker_lost_error(self):
        # With late acks, a message that kills its worker is redelivered to the next one,
        # and the next: the fleet would crash-loop. Each start of a redelivered message
        # is counted in Redis; at --max-task-crashes (3) it fails instead of running.
        q = unique_queue()
        app = self.app()
        r = app.send_task("celeriac.sleep", args=[60], queue=q)
        key = "celeriac-redelivered-starts-" + r.id
        rds = redis_py.Redis.from_url(self.redis.url)
        for run in range(3):
            w = testenv.Worker(self.rabbit.url, self.redis.url, [q]).start()
            self.addCleanup(w.cleanup)
            self.assertTrue(w.wait_log("received task=celeriac.sleep task_id=" + r.id, 30),
                            w.log_text())
            if run > 0:  # the redelivered run is counted before it starts
                deadline = time.time() + 20
                while int(rds.get(key) or 0) < run and time.time() < deadline:
                    time.sleep(0.05)
                self.assertEqual(int(rds.get(key) or 0), run)
            w.kill()  # dies under the task, as a crash would
            w.proc.wait(timeout=10)
        w = self.start_worker(q)
        with self.assertRaises(Exception) as raised:
            r.get(timeout=30)
        self.assertEqual(type(raised.exception).__name__, "WorkerLostError")
        self.assertIn("poison", str(raised.exception))
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))
        self.assertIsNone(rds.get(key), "the count outlived the poison verdict")
        self.assertEqual(app.send_task("celeriac.echo", args=[1], queue=q).get(timeout=15), 1)


class Signals(SharedServers):
    def test_sigpipe_does_not_end_the_worker(self):
        # What a write to a Redis (or broker) that died mid-write raises: the connection
        # must see EPIPE and reconnect, not the process die of the signal.
        q = unique_queue()
        w = self.start_worker(q)
        w.kill(signal.SIGPIPE)
        time.sleep(0.5)
        self.assertIsNone(w.proc.poll(), "worker died of SIGPIPE:\n" + w.log_text())
        self.assertEqual(self.app().send_task("celeriac.echo", args=[3], queue=q).get(timeout=15), 3)


if __name__ == "__main__":
    unittest.main()
