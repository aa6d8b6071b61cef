"""The hostile input corpus (corpus/*.json, described in README.md) against one running
celeriac worker, one case at a time (ctest: reliability.corpus).

For every case: the message is published exactly as the file describes (py-amqp, with
publisher confirms) to a queue that has a dead-letter exchange (through a RabbitMQ
policy), and then
  - where the message has a readable id, the stored result is what the case expects: a
    FAILURE whose exc_type and message say what was wrong, or the SUCCESS Python Celery
    would give (big numbers, NaN, odd but valid headers), within a bounded wait;
  - the message is not requeued: the queue ends empty, and it reached the dead-letter
    queue exactly when the case says it is rejected (refused messages are; tasks that
    ran and failed, or succeeded, are acked);
  - no model was called for an input that fails validation;
  - the worker process is alive, wrote no sanitizer report, and still serves an echo.
If a case kills the worker, the test purges the queue (the poison message would kill it
again on redelivery), restarts it and goes on, so one crash does not hide the others.
The last test checks the queue holds nothing ready or unacked and that SIGTERM still
ends the worker cleanly.

Run one case: python3 -m unittest -v test_corpus.Corpus.test_case_number_1e999
"""

import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import amqp  # noqa: E402
import redis as redis_py  # noqa: E402

import corpus_lib  # noqa: E402
import testenv  # noqa: E402

os.environ.setdefault("STUB_API_KEY", "sk-stub-corpus-not-a-real-key")

QUEUE = "corpus-q"
DLX = "corpus.dlx"
DEAD = "corpus.dead"
TIERS = ("5s", "1h")
WAIT_S = 30        # bound on one case's outcome
SLOW_WAIT_S = 120  # multi-MB or 100,000-deep cases (the ASan build is slow on them)


class Corpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="celeriac-corpus-")
        cls.rabbit = testenv.RabbitServer().start()
        cls.redis = testenv.RedisServer().start()
        cls.stub = testenv.LlmStub().start()
        cls.llm_config = testenv.write_stub_llm_config(cls.dir, cls.stub)
        cls.pub = corpus_lib.RawPublisher(cls.rabbit.url)
        corpus_lib.dead_letter_policy(cls.rabbit, cls.pub, "^%s$" % QUEUE, DLX, DEAD)
        cls.r = redis_py.Redis.from_url(cls.redis.url)
        cls.workers = []
        cls.crashes = []
        cls.worker = None
        cls.start_worker()

    @classmethod
    def start_worker(cls):
        w = testenv.Worker(cls.rabbit.url, cls.redis.url, [QUEUE], concurrency=20,
                           extra=["--llm-config", cls.llm_config, "--heartbeat", "10",
                                  "--delay-tiers", ",".join(TIERS)]).start()
        cls.workers.append(w)
        if not w.wait_log("broker connected", timeout=60):
            raise RuntimeError("worker did not connect: " + w.log_text()[-3000:])
        cls.worker = w
        cls.log_mark = 0

    @classmethod
    def tearDownClass(cls):
        for w in cls.workers:
            try:
                w.cleanup()
            except AssertionError as e:  # sanitizer reports: already failed the case
                print("corpus: %s" % e, file=sys.stderr)
        cls.pub.close()
        cls.stub.stop()
        cls.redis.cleanup()
        cls.rabbit.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)
        gc.collect()

    # --- helpers ---------------------------------------------------------------------

    def delayed(self):
        return sum(self.pub.ready("celeriac.delay." + t) for t in TIERS
                   if self.queue_exists("celeriac.delay." + t))

    def queue_exists(self, name):
        try:
            self.pub.ready(name)
            return True
        except amqp.exceptions.NotFound:
            return False

    def llm_received(self):
        return self.stub.stats()["totals"]["received"]

    def worker_died(self):
        return self.worker.proc.poll() is not None

    def recover_from_crash(self, case_name):
        """The worker died on a case: purge its poison message (it would kill the next
        worker on redelivery), start a new worker, and say what happened."""
        code = self.worker.proc.returncode
        tail = self.worker.log_text()[-2500:]
        for _ in range(2):
            self.pub.purge(QUEUE)
            time.sleep(0.5)
        type(self).crashes.append(case_name)
        type(self).start_worker()
        sig = -code if code is not None and code < 0 else None
        return "worker died on %s (exit %s%s); log tail:\n%s" % (
            case_name, code, " = %s" % signal.Signals(sig).name if sig else "", tail)

    def new_sanitizer_reports(self):
        text = self.worker.log_text()
        new = text[self.log_mark:]
        type(self).log_mark = len(text)
        return [line for line in new.splitlines()
                if "ERROR: AddressSanitizer" in line or "runtime error:" in line
                or "ERROR: LeakSanitizer" in line]

    def echo_still_served(self, timeout=20):
        task_id = str(uuid.uuid4())
        probe = corpus_lib.Built(None, {"delivery_mode": 2, "content_type": "application/json",
                                        "content_encoding": "utf-8"},
                                 corpus_lib.v2_headers("celeriac.echo", task_id),
                                 json.dumps([["still here"], {}, corpus_lib.EMBED]).encode(),
                                 task_id)
        self.pub.publish(QUEUE, probe)
        doc = corpus_lib.wait_for(lambda: corpus_lib.read_result(self.r, task_id), timeout)
        return doc is not None and doc.get("status") == "SUCCESS" and doc.get("result") == "still here"

    # --- one case ----------------------------------------------------------------------

    def run_case(self, case):
        if self.worker_died():
            self.recover_from_crash("an earlier case")
        built = case.build()
        dead_before = self.pub.ready(DEAD)
        delayed_before = self.delayed()
        llm_before = self.llm_received() if case.needs_llm else None
        started = time.time()
        try:
            self.pub.publish(QUEUE, built)
        except Exception as e:  # noqa: BLE001 - the broker refused it: not the worker's doing
            self.pub.reconnect()
            self.fail("%s: RabbitMQ refused the message itself (%r): fix the case" % (case.name, e))

        # Wait (bounded) for the first sign of an outcome: a terminal result, the message
        # dead-lettered, parked in a delay queue, or the worker gone.
        timeout = SLOW_WAIT_S if case.slow else WAIT_S
        doc = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.worker_died():
                break
            if built.result_id:
                doc = corpus_lib.read_result(self.r, built.result_id)
                if doc and doc.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
                    break
            if self.pub.ready(DEAD) > dead_before or self.delayed() > delayed_before:
                break
            time.sleep(0.05)
        if self.worker_died():
            self.fail(self.recover_from_crash(case.name))
        if built.result_id:  # a FAILURE is stored before the reject: read it once more
            doc = corpus_lib.read_result(self.r, built.result_id)

        problems, matched = corpus_lib.judge(case.expect, built, doc)
        if not problems and not built.result_id and time.time() >= deadline:
            problems = ["no outcome within %d s (not dead-lettered, not parked)" % timeout]
        # The echo goes through the same queue after the case: once it is answered, the
        # case's own reject or ack has long been sent, so the counts below are final.
        if not self.echo_still_served():
            problems.append("the worker no longer serves an echo" + (
                "" if not self.worker_died() else ": " + self.recover_from_crash(case.name)))
        if matched is not None:
            want_dead = dead_before + (1 if matched.get("dead_letter") else 0)
            corpus_lib.wait_for(lambda: self.pub.ready(DEAD) >= want_dead, 10)
            dead = self.pub.ready(DEAD)
            if dead != want_dead:
                problems.append("dead-letter queue got %d message(s), expected %d (%s)" % (
                    dead - dead_before, want_dead - dead_before,
                    "rejected without requeue" if matched.get("dead_letter") else "acked"))
            if matched.get("outcome") == "parked" and self.delayed() <= delayed_before:
                problems.append("not parked in a delay queue")
            if matched.get("llm_calls") == 0 and self.llm_received() != llm_before:
                problems.append("a model was called %d time(s) for an invalid input"
                                % (self.llm_received() - llm_before))
        if not corpus_lib.wait_for(lambda: self.pub.ready(QUEUE) == 0, 10):
            problems.append("%d message(s) left ready on the queue (requeued?)"
                            % self.pub.ready(QUEUE))
        for tier in TIERS:  # a parked case must not come back later
            if self.queue_exists("celeriac.delay." + tier):
                self.pub.purge("celeriac.delay." + tier)
        if self.worker_died():
            problems.append(self.recover_from_crash(case.name))
        problems += ["sanitizer: " + line for line in self.new_sanitizer_reports()]
        print("corpus: %-34s %5.1fs %s" % (case.name, time.time() - started,
                                          "ok" if not problems else "FAIL"), file=sys.stderr)
        if problems:
            self.fail("%s (%s):\n  %s" % (case.name, case.spec["description"],
                                          "\n  ".join(problems)))

    # --- after every case ----------------------------------------------------------------

    def test_zzz_queue_drained_nothing_unacked_and_warm_shutdown(self):
        self.assertFalse(self.worker_died(), self.worker.log_text()[-2000:])
        self.assertTrue(self.echo_still_served())
        self.assertEqual(self.rabbit.wait_queue_counts(QUEUE, (0, 0), timeout=60), (0, 0),
                         "nothing ready or unacked once every case is done")
        self.assertEqual(self.worker.stop(timeout=30), 0, self.worker.log_text()[-2000:])
        self.assertEqual(self.crashes, [], "cases that killed the worker")


def _add_case_tests():
    for case in corpus_lib.load_cases():
        def test(self, case=case):
            self.run_case(case)
        test.__doc__ = "%s: %s" % (case.name, case.spec["description"])
        setattr(Corpus, "test_case_" + case.name, test)


_add_case_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
