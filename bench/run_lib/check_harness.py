"""Checks of bench/run's harness against real servers (ctest bench.harness): what one
workload leaves behind never counts in the next.

- Servers.reset() empties the celeriac.delay.* parking queues: a task a worker parked in
  one workload (rate-limited parks what waits too long) must not come back into the
  next workload's queue.
- ResultListener.count_of() counts only the results of the tasks asked about: a result
  published for another task (a leftover) must not end a workload early. A workload
  that counted every result stopped while 81 of its own 3,000 tasks were still running.
"""

import json
import os
import sys
import time
import unittest

import kombu

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from run_lib import load, servers  # noqa: E402


class BenchHarness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = servers.Servers().start()

    @classmethod
    def tearDownClass(cls):
        cls.servers.cleanup()

    def test_reset_empties_the_parking_queues(self):
        with kombu.Connection(self.servers.rabbit.url) as conn:
            ch = conn.channel()
            parked = kombu.Queue("celeriac.delay.30s", kombu.Exchange("celeriac.delay.30s",
                                                                      "fanout"))(ch)
            parked.declare()
            kombu.Producer(ch).publish({"parked": 1}, exchange="celeriac.delay.30s",
                                       routing_key="", declare=[parked])
        self.assertEqual(self.servers.rabbit.queue_counts("celeriac.delay.30s"), (1, 0))
        self.servers.reset("bench-queue")
        self.assertEqual(self.servers.rabbit.queue_counts("celeriac.delay.30s"), (0, 0))

    def test_count_of_counts_only_the_tasks_asked_about(self):
        listener = load.ResultListener(self.servers.redis.url)
        try:
            for task_id in ("mine-1", "leftover-1", "leftover-2"):
                self.servers.r.publish("celery-task-meta-" + task_id,
                                       json.dumps({"status": "SUCCESS", "task_id": task_id}))
            deadline = time.time() + 10
            while len(listener.results) < 3 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(len(listener.results), 3)
            self.assertEqual(listener.count_of({"mine-1": 0.0, "mine-2": 0.0}), 1)
        finally:
            listener.close()


if __name__ == "__main__":
    unittest.main()
