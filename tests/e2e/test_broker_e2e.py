"""End-to-end: prefetch changes at run time reach RabbitMQ, from Debian's Python
Celery against a real celeriac, RabbitMQ and Redis.

Celery raises the prefetch by one for each ETA task it holds, so held tasks never
starve tasks that can run now, and celeriac lowers it while every model is down so other
replicas take the work. A per-consumer basic.qos (global=0) only applies to consumers
created after it, so both did nothing: with -c 10 --prefetch-multiplier 1, ten
countdown=8 tasks and then one immediate echo, the echo waited ~7 s on celeriac and
0.01 s on a Python Celery 5.2 worker. Classic queues now get a channel-wide QoS, as
Celery 5.2 does; quorum queues, which refuse global QoS, get their consumers re-created.
Each case runs against both queue types.
"""

import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import kombu  # noqa: E402

import testenv  # noqa: E402
from celery_client import client  # noqa: E402
from test_worker_e2e import SharedServers, unique_queue  # noqa: E402

os.environ.setdefault("STUB_API_KEY", "sk-stub-e2e-not-a-real-key")


def count_in_log(worker, needle):
    return worker.log_text().count(needle)


def broker_prefetch(rabbit, queue):
    """The prefetch limits RabbitMQ applies to `queue`'s consumers now: a channel-wide
    (global) limit where the channel has one, else the consumer's own."""
    consumers = rabbit.ctl("-q", "list_consumers", "queue_name", "channel_pid", "prefetch_count",
                           "--no-table-headers", capture=True, check=False) or ""
    channels = rabbit.ctl("-q", "list_channels", "pid", "global_prefetch_count",
                          "--no-table-headers", capture=True, check=False) or ""
    global_limit = dict(line.split("\t")[:2] for line in channels.splitlines() if "\t" in line)
    limits = set()
    for line in consumers.splitlines():
        name, channel, own = (line.split("\t") + ["", "", ""])[:3]
        if name == queue:
            shared = int(global_limit.get(channel, "0") or 0)
            limits.add(shared if shared > 0 else int(own or 0))
    return limits


def wait_broker_prefetch(rabbit, queue, limit, timeout=60):
    """Polls until RabbitMQ applies `limit` to every consumer of `queue`; returns the last
    limits seen. The worker logs a prefetch change when it sends basic.qos (and, on a
    quorum queue, re-creates its consumer): the broker applies it a moment later, and
    under load messages published in that moment still went out under the old limit."""
    deadline = time.time() + timeout
    limits = broker_prefetch(rabbit, queue)
    while limits != {limit} and time.time() < deadline:
        time.sleep(0.1)
        limits = broker_prefetch(rabbit, queue)
    return limits


def wait_count(worker, needle, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if count_in_log(worker, needle) >= n:
            return True
        if worker.proc.poll() is not None:
            break
        time.sleep(0.05)
    return count_in_log(worker, needle) >= n


class HeldTasksRaisePrefetch(SharedServers):
    """Ten held countdown tasks fill a prefetch of ten; an eleventh, due now, still runs."""

    def check_immediate_task_overtakes_held_ones(self, queue_type):
        q = unique_queue("prefetch-%s" % queue_type)
        # Delay queues are declared with the queue type: the quorum case has its own tier.
        tiers = ["--delay-tiers", "4s"] if queue_type == "quorum" else []
        w = self.start_worker(q, extra=["--prefetch-multiplier", "1", "--queue-type", queue_type]
                              + tiers, concurrency=10)
        app = self.app()
        if queue_type == "quorum":
            app.conf.task_queues = [kombu.Queue(q, routing_key=q,
                                                queue_arguments={"x-queue-type": "quorum"})]
        held = [app.send_task("celeriac.echo", args=["held %d" % i], queue=q, countdown=8)
                for i in range(10)]
        # All ten are in the worker's hands (the prefetch of ten is full) before the
        # immediate one is sent, so it cannot slip in among them.
        self.assertTrue(wait_count(w, "scheduled task_id=", 10), w.log_text())
        now = app.send_task("celeriac.echo", args=["now"], queue=q)
        # Well under the countdown: Celery 5.2 takes ~0.01 s, celeriac took ~7 s.
        self.assertEqual(now.get(timeout=5), "now", w.log_text()[-3000:])
        self.assertEqual([r.get(timeout=30) for r in held], ["held %d" % i for i in range(10)])
        self.assertLess(now.date_done, min(r.date_done for r in held),
                        "the immediate task must not wait for the held ones")
        # Every ack landed on the channel, also those of deliveries made to a consumer
        # that was re-created meanwhile (quorum): nothing left, no channel error.
        self.assertEqual(self.rabbit.wait_queue_counts(q, (0, 0)), (0, 0))
        self.assertNotIn("broker connection lost", w.log_text())
        self.assertIsNone(w.proc.poll(), w.log_text()[-3000:])

    def test_classic_queue(self):
        self.check_immediate_task_overtakes_held_ones("classic")

    def test_quorum_queue(self):
        self.check_immediate_task_overtakes_held_ones("quorum")


class BackpressureLowersPrefetch(SharedServers):
    """While every model is down the worker lowers its prefetch to one: slow tasks
    sent meanwhile stay in the queue for other replicas instead of all being taken."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="celeriac-broker-e2e-")
        cls.stub = testenv.LlmStub().start()
        # A long breaker cooldown: every model stays "down" for the whole test, so the
        # lowered prefetch is not restored halfway.
        cls.config = testenv.write_stub_llm_config(cls.dir, cls.stub, cooldown_s=120,
                                                   max_queue_wait_s=1)

    @classmethod
    def tearDownClass(cls):
        cls.stub.stop()
        super().tearDownClass()

    def check_lowered_prefetch_leaves_work_in_the_queue(self, queue_type):
        q = unique_queue("backpressure-%s" % queue_type)
        w = self.start_worker(q, extra=["--prefetch-multiplier", "1", "--queue-type", queue_type,
                                        "--llm-config", self.config, "--delay-tiers",
                                        "31s" if queue_type == "quorum" else "30s"],
                              concurrency=10)
        app = self.app()
        if queue_type == "quorum":
            app.conf.task_queues = [kombu.Queue(q, routing_key=q,
                                                queue_arguments={"x-queue-type": "quorum"})]
        self.stub.fault(model="*", fault="status", status=503)
        self.addCleanup(self.stub.clear_faults)
        app.send_task("gpt5_analyzer.analyze",
                      kwargs={"image": "https://example.com/a.jpg", "user_id": "u1"}, queue=q)
        self.assertTrue(w.wait_log("reason=all_models_unavailable", timeout=60), w.log_text())
        self.assertTrue(w.wait_log("prefetch lowered"), w.log_text())
        self.assertEqual(wait_broker_prefetch(self.rabbit, q, 1), {1}, w.log_text()[-3000:])
        # Slow tasks that hold their message unacked while they run (late ack), long
        # enough that the counts below are read while the first still runs, however slow
        # rabbitmqctl is beside other work. Not waited for: killed at the end.
        self.addCleanup(w.kill)
        for _ in range(10):
            app.send_task("celeriac.sleep", args=[40], queue=q)
        # Prefetch 1: one runs, nine wait in the queue. (It was 10: all ten taken.)
        counts = self.rabbit.wait_queue_counts(q, (9, 1), timeout=30)
        self.assertEqual(counts, (9, 1), w.log_text()[-3000:])
        self.assertEqual(count_in_log(w, "received task=celeriac.sleep"), 1)
        self.assertIsNone(w.proc.poll(), w.log_text()[-3000:])

    def test_classic_queue(self):
        self.check_lowered_prefetch_leaves_work_in_the_queue("classic")

    def test_quorum_queue(self):
        self.check_lowered_prefetch_leaves_work_in_the_queue("quorum")


if __name__ == "__main__":
    unittest.main(verbosity=2)
