"""End-to-end: Celery's per-task options from --tasks-config (`task_options`), and
prefetched tasks starting in message-priority order, checked from outside with Debian's
Python Celery 5.2.6 against a worker, RabbitMQ and Redis on loopback.

One worker serves the module: -c 1, prefetch 20, a queue with x-max-priority 10, task
events on, and TASK_OPTIONS_YAML as its tasks config. Where Celery is the reference the
tests also run against Celery's own worker, given the same options in Python
(task_options_python_app.py):

    cd tests/e2e
    CELERIAC_BIN=../../build/worker/celeriac /usr/bin/python3 -m unittest -v test_task_options_e2e
    CELERIAC_E2E_WORKER=python /usr/bin/python3 -m unittest -v test_task_options_e2e

Tests marked celeriac-only check what Celery's worker does not do (local priority order)
or celeriac's own start-up checks.
"""

import gc
import json
import os
import subprocess
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import celery.exceptions  # noqa: E402
import redis  # noqa: E402

import testenv  # noqa: E402
from celery_client import client  # noqa: E402
from operator_harness import (  # noqa: E402
    WORKER_KIND, CeleriacWorker, EventCollector, PythonCeleryWorker, wait_for)

TASK_OPTIONS_YAML = """\
task_options:
  celeriac.echo: {ignore_result: true}
  celeriac.sleep: {soft_time_limit: 1}
  celeriac.fail:
    autoretry_for: [ValueError]
    retry_backoff: true
    retry_jitter: false
    max_retries: 2
  celeriac.retry: {rate_limit: 1/h}
  gpt5_analyzer.analyze: {soft_time_limit: 1}
"""

# The balancer's key for the llm-stub (a test key; the stub accepts any).
os.environ.setdefault("STUB_API_KEY", "sk-stub-e2e-not-a-real-key")
IMAGE = "https://example.com/uploads/photo-123.jpg"

celeriac_only = unittest.skipIf(WORKER_KIND == "python",
                                "celeriac's own behaviour, not Celery's")


class OptionsPythonWorker(PythonCeleryWorker):
    """Celery's worker on task_options_python_app (prefork: threads have no time limits)."""

    def start(self, *args, python_pool="prefork"):
        self.args = list(args)
        fd, self.log_path = tempfile.mkstemp(prefix="celery-python-worker-", suffix=".log")
        os.close(fd)
        env = dict(os.environ, CELERIAC_E2E_BROKER=self.broker_url,
                   CELERIAC_E2E_BACKEND=self.backend_url)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "task_options_python_app", "worker",
                 "-P", python_pool, "-l", "info"] + self.args,
                cwd=HERE, env=env, stdout=log, stderr=log, start_new_session=True)
        return self


class TaskOptions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rabbit = testenv.RabbitServer().start()
        cls.redis = testenv.RedisServer().start()
        cls.app = client(cls.rabbit.url, cls.redis.url)
        cls.app.conf.task_queue_max_priority = 10  # the queue is declared with it
        cls.queue = "opts-%s" % uuid.uuid4().hex[:8]
        cls.dir = tempfile.mkdtemp(prefix="celeriac-task-options-")
        cls.config = os.path.join(cls.dir, "tasks.yaml")
        with open(cls.config, "w") as f:
            f.write(TASK_OPTIONS_YAML)
        cls.events = EventCollector(cls.app, cls.rabbit.url).start()
        cls.stub = None
        args = ["-Q", cls.queue, "-c", "1", "--prefetch-multiplier", "20", "-E",
                "--without-mingle", "--without-gossip", "-n", "opts-%s@%%h" % uuid.uuid4().hex[:6]]
        if WORKER_KIND == "python":
            cls.worker = OptionsPythonWorker(cls.rabbit.url, cls.redis.url)
            cls.worker.start(*args)
        else:
            # With the LLM tasks too, against the llm-stub (they run from this queue as well).
            cls.stub = testenv.LlmStub().start()
            llm_config = testenv.write_stub_llm_config(cls.dir, cls.stub)
            cls.worker = CeleriacWorker(cls.rabbit.url, cls.redis.url)
            cls.worker.start(*args, "--queue-max-priority", "10", "--tasks-config", cls.config,
                             "--llm-config", llm_config)
        if not cls.worker.wait_ready():
            log = cls.worker.log[-4000:]
            cls.tearDownClass()
            raise AssertionError("worker did not start:\n" + log)

    @classmethod
    def tearDownClass(cls):
        cls.worker.cleanup()
        cls.events.stop()
        if cls.stub:
            cls.stub.stop()
        cls.app.close()
        cls.redis.cleanup()
        cls.rabbit.cleanup()
        for name in os.listdir(cls.dir):
            os.unlink(os.path.join(cls.dir, name))
        os.rmdir(cls.dir)

    def setUp(self):
        self.addCleanup(gc.collect)

    def send(self, name, args, **options):
        return self.app.send_task(name, args=args, queue=self.queue, **options)

    def event_types(self, task_id):
        return [e["type"] for e in self.events.of(task_id)]

    # -- time limits ---------------------------------------------------------------------

    def test_configured_soft_time_limit_fails_with_soft_time_limit_exceeded(self):
        r = self.send("celeriac.sleep", [30])
        with self.assertRaises(celery.exceptions.SoftTimeLimitExceeded):
            r.get(timeout=20)
        self.assertEqual(r.state, "FAILURE")

    @celeriac_only
    def test_soft_time_limit_cancels_the_llm_call(self):
        self.stub.fault(model="*", fault="hang")  # the call is answered never
        self.addCleanup(self.stub.clear_faults)
        r = self.send("gpt5_analyzer.analyze", [], kwargs={"image": IMAGE, "user_id": "u1"})
        with self.assertRaises(celery.exceptions.SoftTimeLimitExceeded):
            r.get(timeout=20)
        # The stub held the request open until the worker closed it: the call was
        # cancelled, not left running (the balancer's own deadline is 30 s).
        totals = wait_for(lambda: (lambda t: t if t["in_flight"] == 0 else None)(
            self.stub.stats()["totals"]), 10)
        self.assertTrue(totals, self.stub.stats()["totals"])
        self.assertEqual(totals["dropped"], 1)

    def test_message_time_limit_wins_over_the_config(self):
        r = self.send("celeriac.sleep", [2], soft_time_limit=30)
        self.assertEqual(r.get(timeout=20), 2)

    # -- autoretry_for with retry_backoff ------------------------------------------------

    def test_autoretry_for_retries_with_growing_backoff_then_raises(self):
        task_id = str(uuid.uuid4())
        # Every state the worker stores is also published on the result's channel: the
        # RETRY documents say each countdown ("Retry in Ns"), as Celery writes them.
        pubsub = redis.Redis.from_url(self.redis.url).pubsub()
        pubsub.subscribe("celery-task-meta-" + task_id)
        self.addCleanup(pubsub.close)
        r = self.send("celeriac.fail", ["boom", "ValueError"], task_id=task_id)
        with self.assertRaises(ValueError):
            r.get(timeout=30)
        states = []
        while not states or states[-1]["status"] != "FAILURE":
            m = pubsub.get_message(timeout=10)
            self.assertIsNotNone(m, "no FAILURE published after %r" % states)
            if m["type"] == "message":
                states.append(json.loads(m["data"]))
        retries = [s for s in states if s["status"] == "RETRY"]
        self.assertEqual([s["traceback"].strip().splitlines()[-1] for s in retries],
                         ["celery.exceptions.Retry: Retry in 1s: ValueError('boom')",
                          "celery.exceptions.Retry: Retry in 2s: ValueError('boom')"])
        self.assertEqual(states[-1]["status"], "FAILURE")
        self.assertEqual(states[-1]["result"]["exc_type"], "ValueError")
        self.assertTrue(self.events.wait(
            lambda _: self.event_types(task_id).count("task-retried") == 2, 10),
            self.event_types(task_id))

    # -- ignore_result and rate_limit ----------------------------------------------------

    def test_configured_ignore_result_stores_nothing(self):
        r = self.send("celeriac.echo", [{"x": 1}])
        self.assertTrue(self.events.wait(
            lambda _: "task-succeeded" in self.event_types(r.id), 20), self.event_types(r.id))
        self.assertFalse(redis.Redis.from_url(self.redis.url).exists("celery-task-meta-" + r.id))

    def test_configured_rate_limit_is_listed_and_holds_the_next_start(self):
        registered = self.app.control.inspect([self.worker.nodename], timeout=5).registered()
        self.assertIn("celeriac.retry [rate_limit=1/h]", registered[self.worker.nodename])
        first = self.send("celeriac.retry", [None, 0])
        self.assertEqual(first.get(timeout=20), {"retries": 0})
        second = self.send("celeriac.retry", [None, 0])
        # A task sent after it on the same queue runs; -c 1 would have started `second`
        # first had it not been waiting for its token (one start an hour).
        after = self.send("celeriac.sleep", [0])
        self.assertEqual(after.get(timeout=20), 0)
        self.assertTrue(self.events.wait(
            lambda _: "task-succeeded" in self.event_types(after.id), 20))
        self.assertIn("task-received", self.event_types(second.id))
        self.assertNotIn("task-started", self.event_types(second.id))
        self.assertEqual(second.state, "PENDING")

    # -- priorities held locally (celeriac only: Celery's worker keeps arrival order) ----

    @celeriac_only
    def test_high_priority_task_overtakes_prefetched_low_ones(self):
        blocker = self.send("celeriac.sleep", [60], soft_time_limit=120)
        self.assertTrue(self.events.wait(
            lambda _: "task-started" in self.event_types(blocker.id), 20))
        # Unacked already: the blocker, and the rate-limited task another test left held.
        held = self.rabbit.queue_counts(self.queue)[1]
        low = [self.send("celeriac.echo", [i], priority=1) for i in range(5)]
        # All prefetched: none left in the queue, all unacked in the worker.
        self.assertEqual(self.rabbit.wait_queue_counts(self.queue, (0, held + 5)), (0, held + 5))
        high = self.send("celeriac.echo", ["high"], priority=9)
        self.assertEqual(self.rabbit.wait_queue_counts(self.queue, (0, held + 6)), (0, held + 6))
        self.app.control.revoke(blocker.id, terminate=True, destination=[self.worker.nodename])
        ids = [high.id] + [r.id for r in low]
        self.assertTrue(self.events.wait(
            lambda _: all("task-succeeded" in self.event_types(i) for i in ids), 30))
        started = [e["uuid"] for e in self.events.snapshot()
                   if e["type"] == "task-started" and e["uuid"] in ids]
        self.assertEqual(started, ids, "high first, then the low ones in arrival order")


class BadTaskOptions(unittest.TestCase):
    """A wrong option name or value stops the worker at start-up with a message naming
    the task and the option (celeriac only: Celery has no config file to check)."""

    @celeriac_only
    def test_wrong_option_name_or_value_is_a_start_up_error(self):
        cases = [
            ("task_options:\n  celeriac.sleep: {soft_timelimit: 1}\n",
             "task_options.celeriac.sleep.soft_timelimit: unknown option"),
            ("task_options:\n  celeriac.echo: {rate_limit: fast}\n",
             "task_options.celeriac.echo.rate_limit: invalid rate limit"),
            ("task_options:\n  celeriac.ecko: {priority: 1}\n",
             "task_options.celeriac.ecko: no such task"),
        ]
        with tempfile.TemporaryDirectory() as d:
            for text, expected in cases:
                path = os.path.join(d, "tasks.yaml")
                with open(path, "w") as f:
                    f.write(text)
                # No broker or Redis is needed: the config is checked before connecting.
                proc = subprocess.run(
                    [testenv.celeriac_binary(), "worker", "-Q", "q", "--tasks-config", path,
                     "--broker", "amqp://guest:guest@127.0.0.1:1//",
                     "--result-backend", "redis://127.0.0.1:1/0", "--http-port", "0"],
                    capture_output=True, text=True, timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(expected, proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
