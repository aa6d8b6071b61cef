"""End-to-end: replicas of one Deployment take different key sets.

Pod names of a Deployment carry no ordinal, so replicas lease a free key set in Redis:
three replicas against one Redis hold three different sets; a replica killed with
SIGKILL frees its set once its lease expires, and the next replica takes it; a replica
beyond the sets shares one and says so (log and `inspect stats`); a replica stopped
gracefully gives its set back at once. Real RabbitMQ, Redis and celeriac processes.
"""

import os
import re
import socket
import signal
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import redis as redis_py  # noqa: E402
from celery import Celery  # noqa: E402

import testenv  # noqa: E402

TTL_S = 2  # --key-set-lease-ttl: short, so an expiry takes seconds

CONFIG = """strategy: round_robin
timeout: 30
health_check: {enabled: false}
endpoints:
  - name: stub
    url: http://127.0.0.1:9/v1
    provider: openai
    models: [gpt-4o, gpt-4o-mini]
key_sets:
  - {name: set-a, keys: [{endpoint: stub, alias: key-a, env: KEY_A}]}
  - {name: set-b, keys: [{endpoint: stub, alias: key-b, env: KEY_B}]}
  - {name: set-c, keys: [{endpoint: stub, alias: key-c, env: KEY_C}]}
routes:
  waste_analysis:
    normal: [gpt-4o]
  response_generation:
    normal: [gpt-4o-mini]
"""
SETS = ["set-a", "set-b", "set-c"]


def wait_for(fn, timeout, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    return fn()


class KeySetLeases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rabbit = testenv.RabbitServer().start()
        cls.redis = testenv.RedisServer().start()
        cls.dir = tempfile.mkdtemp(prefix="celeriac-keysets-")
        cls.config = os.path.join(cls.dir, "llm.yaml")
        with open(cls.config, "w") as f:
            f.write(CONFIG)
        cls.r = redis_py.Redis.from_url(cls.redis.url, decode_responses=True)

    @classmethod
    def tearDownClass(cls):
        cls.redis.cleanup()
        cls.rabbit.cleanup()

    def setUp(self):
        self.r.flushdb()
        self.app = Celery(broker=self.rabbit.url, backend=self.redis.url)
        self.queue = "keysets-%s" % uuid.uuid4().hex[:8]

    def start(self, name):
        # HOSTNAME as a Deployment pod's: no ordinal, so nothing pins a set.
        env = dict(os.environ, HOSTNAME="gpt5-analyzer-7d9f8-%s" % name,
                   KEY_A="sk-a", KEY_B="sk-b", KEY_C="sk-c")
        w = testenv.Worker(self.rabbit.url, self.redis.url, [self.queue],
                           extra=["--llm-config", self.config, "-n", "%s@%%h" % name,
                                  "--key-set-lease-ttl", str(TTL_S)])
        w.env = env
        w.start()
        self.addCleanup(w.cleanup)
        self.assertTrue(w.wait_log("broker connected"), w.log_text())
        return w

    def key_set_of(self, w):
        m = re.search(r"key set (\S+) leased|sharing key set (\S+)", w.log_text())
        self.assertIsNotNone(m, w.log_text())
        return m.group(1) or m.group(2)

    def leases(self):
        return {s: self.r.get("celeriac-keyset-lease:" + s) for s in SETS}

    def stats(self, node):
        reply = self.app.control.inspect(destination=[node], timeout=2).stats() or {}
        return reply.get(node, {})

    def test_replicas_take_different_sets_and_a_crashed_ones_set_is_taken_over(self):
        workers = [self.start(n) for n in ("w1", "w2", "w3")]
        sets = [self.key_set_of(w) for w in workers]
        self.assertEqual(sorted(sets), SETS)
        held = self.leases()
        self.assertTrue(all(held.values()), held)
        # Leases are renewed: after several TTLs each set is still held by its replica.
        time.sleep(3 * TTL_S)
        self.assertEqual(self.leases(), held)

        # SIGKILL: no release; the set is free once its lease expires.
        crashed = workers[1]
        crashed.kill(signal.SIGKILL)
        crashed.proc.wait(timeout=10)
        freed = sets[1]
        self.assertTrue(wait_for(lambda: self.r.get("celeriac-keyset-lease:" + freed) is None,
                                 4 * TTL_S), self.leases())
        w4 = self.start("w4")
        self.assertEqual(self.key_set_of(w4), freed)
        self.assertIn("leased", w4.log_text())

        # A fourth live replica for three sets shares one and says so.
        w5 = self.start("w5")
        self.assertIn("all 3 key sets are leased by other replicas", w5.log_text())
        shared = self.key_set_of(w5)
        self.assertIn(shared, SETS)
        node = "w5@" + socket.gethostname()
        key_set = wait_for(lambda: self.stats(node).get("celeriac", {}).get("key_set"), 10)
        self.assertEqual(key_set, {"name": shared, "pinned": False, "leased": False,
                                   "shared": True})

    def test_a_graceful_stop_gives_the_set_back_at_once(self):
        w = self.start("g1")
        taken = self.key_set_of(w)
        self.assertIsNotNone(self.r.get("celeriac-keyset-lease:" + taken))
        self.assertEqual(w.stop(), 0)
        self.assertIsNone(self.r.get("celeriac-keyset-lease:" + taken))

    def test_instance_id_pins_a_set_without_a_lease(self):
        env_worker = testenv.Worker(self.rabbit.url, self.redis.url, [self.queue],
                                    extra=["--llm-config", self.config, "-n", "p1@%h"])
        env_worker.env = dict(os.environ, INSTANCE_ID="2", KEY_A="a", KEY_B="b", KEY_C="c")
        env_worker.start()
        self.addCleanup(env_worker.cleanup)
        self.assertTrue(env_worker.wait_log("broker connected"), env_worker.log_text())
        self.assertIn("key set set-c", env_worker.log_text())
        self.assertEqual(self.leases(), {s: None for s in SETS})


if __name__ == "__main__":
    unittest.main()
