"""End-to-end: the worker's logs. A celeriac worker runs with
`--log-format json` against a RabbitMQ user with a real password, a Redis that requires
one, and the llm-stub with a fake provider key that the stub refuses with an error whose
body quotes the key (as OpenAI's "Incorrect API key provided: sk-..." did). Then:

- every line of the log is one JSON object with time, level, logger and message;
- task lines carry `task_id` (and `root_id` once the pipeline logs `root_id=`);
- neither password nor the key appears anywhere in the log, even in the provider's error
  text or a task's own failure message; the text format is redacted the same way.
"""

import datetime
import gc
import json
import os
import re
import shutil
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

import redis as redis_py  # noqa: E402

import testenv  # noqa: E402
from celery_client import client  # noqa: E402

BROKER_USER = "celeriac-logs"
BROKER_PASSWORD = "Br0kerPassw0rd-e2e"
REDIS_PASSWORD = "R3disPassw0rd-e2e"
API_KEY = "sk-test-SECRET123456789"
SECRETS = (BROKER_PASSWORD, REDIS_PASSWORD, API_KEY, "SECRET123456789")
IMAGE = "https://example.com/uploads/photo-123.jpg"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"trace", "debug", "info", "warning", "error", "critical"}


class Stack:
    """RabbitMQ (a user with a password), Redis (requirepass), the stub refusing the
    key, and the balancer config naming it.

    The refusal is a 400 (a caller error: the task fails at once with the provider's
    message, which the worker logs) rather than a 401, which takes the key out and parks
    the task with no provider text in the log."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="celeriac-logs-")
        self.rabbit = testenv.RabbitServer().start()
        self.rabbit.ctl("add_user", BROKER_USER, BROKER_PASSWORD)
        self.rabbit.ctl("set_permissions", "-p", "/", BROKER_USER, ".*", ".*", ".*")
        self.redis = testenv.RedisServer().start()
        admin = redis_py.Redis(port=self.redis.port)
        admin.config_set("requirepass", REDIS_PASSWORD)
        admin.close()
        self.stub = testenv.LlmStub().start()
        self.stub.fault(fault="status", status=400, key=API_KEY, body={"error": {
            "message": "Incorrect API key provided: %s. You can find your API key at "
                       "https://platform.openai.com/account/api-keys." % API_KEY,
            "type": "invalid_request_error", "code": "invalid_api_key"}})
        self.config = testenv.write_stub_llm_config(self.dir, self.stub, cooldown_s=2,
                                                    max_queue_wait_s=1, timeout_s=10)
        self.broker_url = "amqp://%s:%s@127.0.0.1:%d//" % (BROKER_USER, BROKER_PASSWORD,
                                                          self.rabbit.port)
        self.backend_url = "redis://:%s@127.0.0.1:%d/0" % (REDIS_PASSWORD, self.redis.port)

    def run_worker(self, log_format):
        """Runs a worker through an echo, a task failing with secrets in its message and
        an LLM call the provider refuses; returns (log text, task ids) after SIGTERM."""
        queue = "logs-%s" % uuid.uuid4().hex[:8]
        worker = testenv.Worker(self.broker_url, self.backend_url, [queue, "gpt5-analyzer"],
                                extra=["--log-format", log_format, "--llm-config", self.config])
        old_key = os.environ.get("STUB_API_KEY")
        os.environ["STUB_API_KEY"] = API_KEY
        try:
            worker.start()
        finally:
            if old_key is None:
                os.environ.pop("STUB_API_KEY", None)
            else:
                os.environ["STUB_API_KEY"] = old_key
        try:
            if not worker.wait_log("broker connected", timeout=30):
                raise AssertionError(worker.log_text())
            app = client(self.broker_url, self.backend_url)
            ids = {}
            echo = app.send_task("celeriac.echo", args=["hello"], queue=queue)
            assert echo.get(timeout=20) == "hello"
            ids["echo"] = echo.id
            failing = app.send_task("celeriac.fail", args=[
                "cannot reach amqp://%s:%s@rabbit// nor redis: password %s; the key was %s"
                % (BROKER_USER, BROKER_PASSWORD, REDIS_PASSWORD, API_KEY)], queue=queue)
            try:
                failing.get(timeout=20)
            except Exception:  # noqa: BLE001 (any Python exception type is the point)
                pass
            ids["fail"] = failing.id
            analysis = app.send_task("gpt5_analyzer.analyze", queue="gpt5-analyzer",
                                     kwargs={"image": IMAGE, "user_id": "u-1", "locale": "en"})
            try:
                analysis.get(timeout=30)
            except Exception:  # noqa: BLE001
                pass
            ids["analysis"] = analysis.id
            # What every Python client reading these results sees, as stored.
            stored = redis_py.Redis.from_url(self.backend_url)
            self.stored_results = {name: stored.get("celery-task-meta-" + task_id)
                                   for name, task_id in ids.items()}
            # Freed while Redis still answers (a later __del__ prints a traceback).
            del echo, failing, analysis
            gc.collect()
            app.close()
        finally:
            worker.stop(timeout=20)
            text = worker.log_text()
            worker.cleanup()
        return text, ids

    def cleanup(self):
        self.stub.stop()
        self.redis.cleanup()
        self.rabbit.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


STACK = None


def setUpModule():
    global STACK
    STACK = Stack()


def tearDownModule():
    if STACK:
        STACK.cleanup()


class StoredResults(unittest.TestCase):
    """Secrets stay out of results too: a provider's error text quoting the key it
    refused, or a task's own error message, is stored with the secret masked."""

    @classmethod
    def setUpClass(cls):
        STACK.run_worker("json")
        cls.stored = STACK.stored_results

    def test_no_password_or_key_in_a_stored_failure(self):
        for name in ("fail", "analysis"):
            doc = self.stored[name]
            self.assertIsNotNone(doc, name)
            text = doc.decode("utf-8", "replace")
            for secret in SECRETS:
                self.assertNotIn(secret, text, "%s result: %s" % (name, text))
        self.assertIn("FAILURE", self.stored["fail"].decode())


class JsonLogs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log, cls.ids = STACK.run_worker("json")
        cls.stub_stats = STACK.stub.stats()

    def lines(self):
        return [line for line in self.log.splitlines() if line.strip()]

    def objects(self):
        return [json.loads(line) for line in self.lines()]

    def test_every_line_is_one_json_object_with_time_level_logger_message(self):
        lines = self.lines()
        self.assertGreater(len(lines), 5, self.log)
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                self.fail("not a JSON line: %r" % line)
            self.assertIsInstance(obj, dict, line)
            self.assertRegex(obj.get("time", ""), TIME_RE, line)
            self.assertIn(obj.get("level"), LEVELS, line)
            self.assertTrue(obj.get("logger", "").startswith("celeriac"), line)
            self.assertIsInstance(obj.get("message"), str, line)
        # Times are now-ish UTC, not local time mislabelled as Z.
        first = datetime.datetime.strptime(self.objects()[0]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        now = datetime.datetime.utcnow()
        self.assertLess(abs((now - first).total_seconds()), 600)

    def test_task_lines_carry_task_id_as_a_field(self):
        objects = self.objects()
        for obj in objects:
            m = re.search(r"(?:^|[^\w])task_id=([^\s:,;)]+)", obj["message"])
            if m:
                self.assertEqual(obj.get("task_id"), m.group(1), obj)
            else:
                self.assertNotIn("task_id", obj, obj)
        for name, task_id in self.ids.items():
            task_lines = [o for o in objects if o.get("task_id") == task_id]
            self.assertTrue(task_lines, "no line with task_id %s (%s):\n%s" % (task_id, name,
                                                                             self.log))
            self.assertTrue(any(o["logger"] == "celeriac.task" for o in task_lines), task_lines)
        received = [o for o in objects if o["message"].startswith("received ")]
        self.assertEqual(len(received), 3, received)
        self.assertTrue(any(o["level"] == "error" or o["level"] == "warning"
                            for o in objects if o.get("task_id") == self.ids["fail"]))

    def test_task_lines_carry_root_id_when_the_message_has_it(self):
        objects = self.objects()
        with_root = [o for o in objects if "root_id=" in o["message"]]
        for obj in with_root:
            m = re.search(r"(?:^|[^\w])root_id=([^\s:,;)]+)", obj["message"])
            self.assertEqual(obj.get("root_id"), m.group(1), obj)
        if not with_root:
            self.skipTest("the task pipeline does not log root_id= yet (task_pipeline.cc)")
        # Plain send_task: each task is its own root.
        for obj in objects:
            if obj["message"].startswith("received "):
                self.assertEqual(obj.get("root_id"), obj["task_id"], obj)

    def test_the_provider_refused_the_key_and_its_error_text_was_logged(self):
        # The redaction test below means something only if the key was sent, refused,
        # and the provider's text (which quotes it) reached the log.
        self.assertIn(API_KEY, self.stub_stats["keys"], self.stub_stats)
        self.assertGreater(self.stub_stats["totals"]["by_status"].get("400", 0), 0,
                           self.stub_stats)
        analysis = [o for o in self.objects() if o.get("task_id") == self.ids["analysis"]]
        self.assertTrue(any(o["level"] == "error" and "Incorrect API key provided" in o["message"]
                            for o in analysis), analysis)

    def test_no_password_or_key_anywhere_in_the_log(self):
        for secret in SECRETS:
            self.assertNotIn(secret, self.log)
        # Where they would have been, the mask is.
        self.assertIn("***", self.log)
        self.assertIn("%s:***@" % BROKER_USER, self.log)


class TextLogs(unittest.TestCase):
    """The default format is text, redacted the same way."""

    def test_text_lines_keep_their_format_and_no_secret(self):
        log, ids = STACK.run_worker("text")
        lines = [line for line in log.splitlines() if line.strip()]
        self.assertTrue(lines, log)
        for line in lines:
            if line.startswith("["):
                self.assertRegex(line, r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[\w+\] "
                                       r"\[celeriac[\w.]*\] ", line)
        self.assertIn("task_id=%s" % ids["echo"], log)
        for secret in SECRETS:
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
