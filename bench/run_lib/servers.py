"""The one RabbitMQ, Redis and llm-stub every contender of a bench/run uses.

What for: started once per run through tests/support/testenv.py (throwaway servers on
free loopback ports); between contenders the queue is purged, Redis flushed and the
stub's counters, windows, faults and config reset, so each starts from the same state.
What not: the workers (contenders.py). Owns the three servers; cleanup() stops them.
"""

import os
import shutil
import sys
import time

import kombu
import redis as redis_py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "support"))
import testenv  # noqa: E402


class Servers:
    def __init__(self):
        self.rabbit = self.redis = self.stub = None

    def start(self):
        try:  # the stub first: a missing build fails before any server is up
            self.stub = testenv.LlmStub(["--latency-ms", "0"]).start()
            self.rabbit = testenv.RabbitServer().start()
            self.redis = testenv.RedisServer().start()
        except BaseException:
            self.cleanup()
            raise
        self.r = redis_py.Redis.from_url(self.redis.url)
        return self

    def reset(self, queue, latency_ms=0, rpm_limit=0):
        """The same starting point for the next contender: empty queue, no parked tasks
        (a task a worker parked in a celeriac.delay.* queue would come back into the next
        workload's queue), empty Redis, a stub with zeroed counters and windows, no
        faults, this latency and limit."""
        out = self.rabbit.ctl("-q", "list_queues", "name", "--no-table-headers", capture=True)
        parking = [n for n in (line.strip() for line in out.splitlines())
                   if n.startswith("celeriac.delay.")]
        with kombu.Connection(self.rabbit.url) as conn:
            ch = conn.channel()
            q = kombu.Queue(queue, kombu.Exchange(queue, "direct"), routing_key=queue)(ch)
            q.declare()
            q.purge()
            for name in parking:
                ch.queue_purge(name)
        self.r.flushdb()
        self.stub.clear_faults()
        self.stub.admin("POST", "/admin/config", {"latency_ms": latency_ms,
                                                  "rpm_limit": rpm_limit})
        self.stub.admin("POST", "/admin/reset", {})

    def wait_consumer(self, queue, timeout=120):
        """Until a worker consumes `queue` (False after `timeout` s)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = self.rabbit.ctl("-q", "list_queues", "name", "consumers",
                                  "--no-table-headers", capture=True)
            if any(line.split() == [queue, str(n)] for line in out.splitlines()
                   for n in range(1, 100)):
                return True
            time.sleep(0.5)
        return False

    def queue_ready(self, queue):
        return self.rabbit.queue_counts(queue)[0]

    def cleanup(self):
        # stop() and rmtree, not the servers' cleanup(): the RabbitMQ connection warnings
        # it prints are every worker's normal disconnect here.
        for s in (self.stub, self.redis, self.rabbit):
            if s is not None:
                s.stop()
                if hasattr(s, "dir"):
                    shutil.rmtree(s.dir, ignore_errors=True)
