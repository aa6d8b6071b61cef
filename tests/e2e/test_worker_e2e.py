"""End-to-end: the real Python Celery client (Debian's python3-celery) against a real
celeriac worker, RabbitMQ and Redis started for the test on loopback.

What the issue asks to show: echo round trip; a failure raises in Python with type and
message; countdown honoured; an expired task is REVOKED; a pickle message is refused
with a FAILURE and the worker keeps serving; an unknown task gives NotRegistered; a
worker killed with SIGKILL mid-task loses nothing; a RabbitMQ restart mid-run is
survived; a Redis outage never acks a task whose result is not stored; Task.retry
semantics (RETRY state, retries + 1, max_retries, a parked retry) as in Celery.
"""

import datetime
import gc
import os
import signal
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import celery.exceptions  # noqa: E402
import kombu  # noqa: E402
import kombu.exceptions  # noqa: E402
import redis as redis_py  # noqa: E402

import testenv  # noqa: E402
from celery_client import client, publish_raw, v2_body, v2_headers  # noqa: E402


def unique_queue(prefix="e2e"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class SharedServers(unittest.TestCase):
    """One RabbitMQ and one Redis for the class; every test uses its own queue."""

    @classmethod
    def setUpClass(cls):
        cls.rabbit = testenv.RabbitServer().start()
        cls.redis = testenv.RedisServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.cleanup()
        cls.rabbit.cleanup()

    def setUp(self):
        # Added first, so run last, once every other cleanup has run (Redis is back up
        # after an outage test): a test's AsyncResults are freed while their Redis still
        # answers. Freed later, each prints a "Connection refused" traceback into the log.
        self.addCleanup(gc.collect)

    def start_worker(self, queue, extra=(), concurrency=50):
        w = testenv.Worker(self.rabbit.url, self.redis.url, [queue], extra=extra,
                           concurrency=concurrency).start()
        self.addCleanup(w.cleanup)
        self.assertTrue(w.wait_log("broker connected"), w.log_text())
        return w

    def app(self):
        return client(self.rabbit.url, self.redis.url)


class WorkerBehaviour(SharedServers):
    def test_echo_round_trip(self):
        q = unique_queue()
        self.start_worker(q)
        app = self.app()
        self.assertEqual(app.send_task("celeriac.echo", args=[{"x": 1}], queue=q).get(timeout=10),
                         {"x": 1})
        self.assertEqual(app.send_task("celeriac.echo", args=[1, "two", None], queue=q)
                         .get(timeout=10), [1, "two", None])
        r = app.send_task("celeriac.echo", args=["héllo ✓"], queue=q)
        self.assertEqual(r.get(timeout=10), "héllo ✓")
        self.assertEqual(r.state, "SUCCESS")
        self.assertIsNotNone(r.date_done)

    def test_failure_raises_in_python_with_type_and_message(self):
        q = unique_queue()
        self.start_worker(q)
        app = self.app()
        with self.assertRaises(ValueError) as ctx:
            app.send_task("celeriac.fail", args=["bad value", "ValueError"], queue=q).get(timeout=10)
        self.assertEqual(str(ctx.exception), "bad value")
        r = app.send_task("celeriac.fail", args=["model exploded", "LlmBackendError"], queue=q)
        with self.assertRaises(Exception) as ctx:
            r.get(timeout=10)
        self.assertEqual(type(ctx.exception).__name__, "LlmBackendError")
        self.assertEqual(ctx.exception.args, ("model exploded",))
        self.assertEqual(r.state, "FAILURE")
        self.assertIn("LlmBackendError", r.traceback)

    def test_countdown_is_honoured_without_blocking_other_work(self):
        q = unique_queue()
        self.start_worker(q)
        app = self.app()
        sent = time.time()
        later = app.send_task("celeriac.echo", args=["later"], queue=q, countdown=3)
        now = app.send_task("celeriac.echo", args=["now"], queue=q)
        self.assertEqual(now.get(timeout=10), "now")
        self.assertEqual(later.get(timeout=15), "later")
        self.assertGreaterEqual(time.time() - sent, 2.9)
        # Order, not wall time (a loaded machine may be slow): the task sent second, due
        # at once, was done while the one held for its ETA still waited.
        self.assertLess(now.date_done, later.date_done, "an ETA task must not block other work")

    def test_countdown_an_hour_ahead_is_parked_and_occupies_no_prefetch_slot(self):
        q = unique_queue()
        w = self.start_worker(q)
        r = self.app().send_task("celeriac.echo", args=["much later"], queue=q, countdown=3600)
        self.assertTrue(w.wait_log("parked task_id=%s reason=eta tier=10m" % r.id), w.log_text())
        self.assertEqual(self.rabbit.wait_queue_counts("celeriac.delay.10m", (1, 0)), (1, 0))
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0),
                         "parked, so acked: no prefetch slot")
        self.assertEqual(r.state, "PENDING")

    def test_parked_countdown_comes_back_from_its_tier_and_runs(self):
        q = unique_queue()
        w = self.start_worker(q, extra=["--delay-tiers", "2s,1h", "--eta-hold-limit", "1"])
        sent = time.time()
        r = self.app().send_task("celeriac.echo", args=["back"], queue=q, countdown=4)
        self.assertTrue(w.wait_log("parked task_id=%s reason=eta tier=2s" % r.id), w.log_text())
        self.assertEqual(r.get(timeout=20), "back")
        self.assertGreaterEqual(time.time() - sent, 3.9)

    def test_retry_behaves_as_celery_retry_with_max_retries(self):
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        # succeed_after=2: two retries one second apart, RETRY visible in between.
        r = app.send_task("celeriac.retry", args=[1], kwargs={"succeed_after": 2}, queue=q)
        seen = set()
        retry_info = retry_tb = None
        deadline = time.time() + 20
        while time.time() < deadline and r.state not in ("SUCCESS", "FAILURE"):
            state = r.state
            seen.add(state)
            if state == "RETRY" and retry_info is None:
                retry_info, retry_tb = r.info, r.traceback
            time.sleep(0.05)
        self.assertIn("RETRY", seen, w.log_text())
        self.assertIsInstance(retry_info, RuntimeError)
        self.assertIn("celery.exceptions.Retry: Retry in 1s: RuntimeError(", retry_tb)
        self.assertEqual(r.get(timeout=10), {"retries": 2})
        self.assertEqual(r.state, "SUCCESS")
        self.assertTrue(w.wait_log("retry task=celeriac.retry task_id=%s retries=2" % r.id))
        # succeed_after=10: Celery's max_retries of 3, then the exc given to retry().
        sent = time.time()
        r = app.send_task("celeriac.retry", args=[1], kwargs={"succeed_after": 10}, queue=q)
        with self.assertRaises(RuntimeError) as ctx:
            r.get(timeout=30)
        self.assertEqual(str(ctx.exception), "retry 3")
        self.assertEqual(r.state, "FAILURE")
        self.assertGreaterEqual(time.time() - sent, 2.9, "three retries, one second apart")
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0), "every copy acked")

    def test_retry_beyond_the_hold_limit_goes_through_a_delay_tier(self):
        q = unique_queue()
        w = self.start_worker(q, extra=["--delay-tiers", "2s,1h", "--eta-hold-limit", "1"])
        sent = time.time()
        r = self.app().send_task("celeriac.retry", args=[3], kwargs={"succeed_after": 1}, queue=q)
        self.assertTrue(w.wait_log("retry task=celeriac.retry task_id=%s retries=1 countdown_ms=3000 "
                                   "via=tier=2s" % r.id), w.log_text())
        self.assertEqual(r.get(timeout=20), {"retries": 1})
        self.assertGreaterEqual(time.time() - sent, 2.9)

    def test_expired_task_is_revoked_and_not_run(self):
        q = unique_queue()
        self.start_worker(q)
        task_id = str(uuid.uuid4())
        past = (datetime.datetime.now(datetime.timezone.utc)
                - datetime.timedelta(minutes=5)).isoformat()
        publish_raw(self.rabbit.url, q, v2_body(["x"]),
                    headers=v2_headers("celeriac.echo", task_id, expires=past))
        r = self.app().AsyncResult(task_id)
        with self.assertRaises(celery.exceptions.TaskRevokedError) as ctx:
            r.get(timeout=10)
        self.assertIn("expired", str(ctx.exception))
        self.assertEqual(r.state, "REVOKED")

    def test_pickle_message_refused_with_failure_and_worker_keeps_serving(self):
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        r = app.send_task("celeriac.echo", args=[1], queue=q, serializer="pickle")
        with self.assertRaises(kombu.exceptions.ContentDisallowed) as ctx:
            r.get(timeout=10)
        self.assertIn("pickle", str(ctx.exception))
        self.assertEqual(app.send_task("celeriac.echo", args=[2], queue=q).get(timeout=10), 2)
        self.assertIsNone(w.proc.poll())
        # Rejected without requeue: nothing left on the queue.
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))

    def test_malformed_messages_refused_and_worker_keeps_serving(self):
        q = unique_queue()
        self.start_worker(q)
        app = self.app()
        two = str(uuid.uuid4())
        publish_raw(self.rabbit.url, q, '[[1], {}]', headers=v2_headers("celeriac.echo", two))
        garbage = str(uuid.uuid4())
        publish_raw(self.rabbit.url, q, b"\x00\xffnot json", content_type="application/json",
                    headers=v2_headers("celeriac.echo", garbage))
        publish_raw(self.rabbit.url, q, "no headers and not a task", headers={})
        for task_id in (two, garbage):
            with self.assertRaises(kombu.exceptions.DecodeError):
                app.AsyncResult(task_id).get(timeout=10)
        bad_eta = str(uuid.uuid4())
        publish_raw(self.rabbit.url, q, v2_body([1]),
                    headers=v2_headers("celeriac.echo", bad_eta, eta="not a date"))
        with self.assertRaises(Exception) as ctx:
            app.AsyncResult(bad_eta).get(timeout=10)
        self.assertEqual(type(ctx.exception).__name__, "InvalidTaskError")
        self.assertEqual(app.send_task("celeriac.echo", args=[3], queue=q).get(timeout=10), 3)

    def test_unknown_task_gives_not_registered(self):
        q = unique_queue()
        self.start_worker(q)
        with self.assertRaises(celery.exceptions.NotRegistered) as ctx:
            self.app().send_task("no.such.task", args=[1], queue=q).get(timeout=10)
        self.assertIn("no.such.task", str(ctx.exception))

    def test_ignore_result_stores_nothing_and_acks(self):
        q = unique_queue()
        self.start_worker(q)
        app = self.app()
        r = app.send_task("celeriac.echo", args=[1], queue=q, ignore_result=True)
        marker = app.send_task("celeriac.echo", args=[2], queue=q)
        self.assertEqual(marker.get(timeout=10), 2)
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))
        self.assertIsNone(redis_py.Redis.from_url(self.redis.url).get("celery-task-meta-" + r.id))

    def test_track_started_stores_started_before_success(self):
        q = unique_queue()
        self.start_worker(q, extra=["--track-started"])
        app = self.app()
        r = app.send_task("celeriac.sleep", args=[1.5], queue=q)
        deadline = time.time() + 10
        while r.state != "STARTED" and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(r.state, "STARTED")
        self.assertIn("hostname", r.info)
        self.assertEqual(r.get(timeout=10), 1.5)

    def test_hard_time_limit_fails_with_time_limit_exceeded(self):
        q = unique_queue()
        self.start_worker(q)
        r = self.app().send_task("celeriac.sleep", args=[30], queue=q, time_limit=1)
        with self.assertRaises(Exception) as ctx:
            r.get(timeout=10)
        self.assertEqual(type(ctx.exception).__name__, "TimeLimitExceeded")

    def test_late_ack_only_after_result_stored(self):
        q = unique_queue()
        w = self.start_worker(q)
        # Each look at the queue is paired with a look at the result taken AFTER it: if the
        # result was not stored yet, the message must have been unacked. One rabbitmqctl
        # call takes 1 s on an idle machine and has taken over 8 s on a loaded one, so a
        # run in which no look finished while the task ran proves nothing either way: it
        # is run again with a longer task, never counted as a pass.
        for seconds in (8, 24, 60):
            r = self.app().send_task("celeriac.sleep", args=[seconds], queue=q)
            self.assertTrue(w.wait_log("received task=celeriac.sleep task_id=" + r.id))
            looks_while_running = 0
            while True:
                counts = self.rabbit.queue_counts(q)
                if r.ready():
                    break
                self.assertEqual(counts, (0, 1),
                                 "a task whose result is not stored must stay unacked")
                looks_while_running += 1
            self.assertEqual(r.get(timeout=10), seconds)
            self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))
            if looks_while_running > 0:
                return
        self.fail("no look at the queue finished while a task ran, even a 60 s one")

    def test_sigterm_finishes_running_tasks_and_exits_zero(self):
        q = unique_queue()
        w = self.start_worker(q)
        r = self.app().send_task("celeriac.sleep", args=[1], queue=q)
        self.assertTrue(w.wait_log("received task=celeriac.sleep"))
        self.assertEqual(w.stop(timeout=20), 0)
        self.assertEqual(r.get(timeout=5), 1)

    def test_sigkill_mid_task_loses_nothing(self):
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        results = [app.send_task("celeriac.sleep", args=[1.5], queue=q) for _ in range(10)]
        self.assertTrue(w.wait_log("received task=celeriac.sleep"))
        w.kill(signal.SIGKILL)
        w.proc.wait(timeout=10)
        self.assertTrue(all(r.state == "PENDING" for r in results))
        self.start_worker(q)
        self.assertEqual([r.get(timeout=20) for r in results], [1.5] * 10)

    def test_redis_outage_never_acks_unstored_results(self):
        q = unique_queue()
        w = self.start_worker(q)
        app = self.app()
        self.assertEqual(app.send_task("celeriac.echo", args=[0], queue=q).get(timeout=10), 0)
        self.addCleanup(self.redis.ensure_running)
        self.redis.stop()
        ids = []
        for i in range(20):
            task_id = str(uuid.uuid4())
            publish_raw(self.rabbit.url, q, v2_body([i]), headers=v2_headers("celeriac.echo", task_id))
            ids.append(task_id)
        self.assertTrue(w.wait_log("result backend unavailable"))
        time.sleep(1.0)
        ready, unacked = self.rabbit.queue_counts(q)
        self.assertEqual(ready + unacked, 20, "no task may be acked while Redis is down")
        self.redis.start()
        app = self.app()
        self.assertEqual([app.AsyncResult(t).get(timeout=20) for t in ids], list(range(20)))
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))


class BrokerOptions(SharedServers):
    """The broker cluster switches: quorum queues, and several broker URLs for failover."""

    def queue_type(self, name):
        out = self.rabbit.ctl("-q", "list_queues", "name", "type", "--no-table-headers",
                              capture=True)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return parts[1]
        return None

    def test_first_broker_url_down_fails_over_to_the_next(self):
        q = unique_queue()
        dead = "amqp://guest:guest@127.0.0.1:%d//" % testenv.free_port()
        w = testenv.Worker(dead + ";" + self.rabbit.url, self.redis.url, [q]).start()
        self.addCleanup(w.cleanup)
        self.assertTrue(w.wait_log("broker connected"), w.log_text())
        r = self.app().send_task("celeriac.echo", args=["failed over"], queue=q)
        self.assertEqual(r.get(timeout=15), "failed over")
        log = w.log_text()
        self.assertIn("cannot connect to amqp://guest:***@127.0.0.1", log)
        self.assertNotIn(":guest@", log, "a broker password must never be logged")

    def test_quorum_queues_for_tasks_and_delay_tiers(self):
        q = unique_queue("e2e-quorum")
        # A tier of its own: the shared node's other tests declared theirs classic.
        w = self.start_worker(q, extra=["--queue-type", "quorum", "--delay-tiers", "3s",
                                        "--eta-hold-limit", "2"])
        app = self.app()
        # The Python side declares the same queue as quorum, as its task_queues would:
        # no PRECONDITION_FAILED whichever side declared first.
        app.conf.task_queues = [kombu.Queue(q, routing_key=q,
                                            queue_arguments={"x-queue-type": "quorum"})]
        self.assertEqual(app.send_task("celeriac.echo", args=["now"], queue=q).get(timeout=10),
                         "now")
        later = app.send_task("celeriac.echo", args=["later"], queue=q, countdown=5)
        self.assertTrue(w.wait_log("parked task_id=%s reason=eta tier=3s" % later.id),
                        w.log_text())
        self.assertEqual(later.get(timeout=20), "later")
        self.assertEqual(self.queue_type(q), "quorum")
        self.assertEqual(self.queue_type("celeriac.delay.3s"), "quorum")


class BrokerRestart(unittest.TestCase):
    """Its own RabbitMQ, because the test restarts it."""

    def test_rabbitmq_restart_mid_run_worker_reconnects_and_finishes_every_task(self):
        rabbit = testenv.RabbitServer().start()
        self.addCleanup(rabbit.cleanup)
        redis = testenv.RedisServer().start()
        self.addCleanup(redis.cleanup)
        self.addCleanup(gc.collect)  # before Redis stops: see SharedServers.setUp
        q = unique_queue("restart")
        w = testenv.Worker(rabbit.url, redis.url, [q], concurrency=20,
                           extra=["--heartbeat", "10"]).start()
        self.addCleanup(w.cleanup)
        self.assertTrue(w.wait_log("broker connected"), w.log_text())
        app = client(rabbit.url, redis.url)
        results = [app.send_task("celeriac.sleep", args=[0.2], queue=q) for _ in range(100)]
        self.assertTrue(w.wait_log("succeeded task=celeriac.sleep"))
        rabbit.stop()
        self.assertTrue(w.wait_log("broker connection lost"), w.log_text())
        rabbit.start()
        self.assertTrue(w.wait_log("broker connected generation=2", timeout=60), w.log_text())
        self.assertEqual([r.get(timeout=60) for r in results], [0.2] * 100)
        more = client(rabbit.url, redis.url).send_task("celeriac.echo", args=["after"], queue=q)
        self.assertEqual(more.get(timeout=20), "after")


if __name__ == "__main__":
    unittest.main(verbosity=2)
