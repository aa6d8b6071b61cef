"""The harness of the operator-tools parity tests (test_operator_e2e, test_operator_pool_e2e):
the worker under test (celeriac, or Debian's Python Celery with CELERIAC_E2E_WORKER=python),
an event collector built on Celery's EventReceiver, and a TestCase base with helpers.

Both workers get the same Celery worker argument line (`-Q q -c N -n name@%h -E ...`);
the Python worker serves the same task names from operator_python_app.py.
"""

import datetime
import gc
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import kombu  # noqa: E402

import testenv  # noqa: E402
from celery_client import client  # noqa: E402

WORKER_KIND = os.environ.get("CELERIAC_E2E_WORKER", "celeriac")
PYTHON = "/usr/bin/python3"
APP_MODULE = "operator_python_app"
# Mingle and gossip only talk to other workers (there are none); without them a Python
# worker starts a second sooner. Tests that need heartbeats leave them on.
QUIET = ("--without-mingle", "--without-gossip")


def unique_queue(prefix="op"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def unique_node():
    """A node name per test (`t<hex>@%h`), so a reply can never come from another
    test's worker."""
    return "t%s@%%h" % uuid.uuid4().hex[:8]


def expand_nodename(name):
    """The node name a worker given `-n name` answers to (Celery's %h, %n, %d)."""
    host = socket.gethostname()
    short, _, domain = host.partition(".")
    return name.replace("%h", host).replace("%n", short).replace("%d", domain)


def option_value(args, *names, default=None):
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
        for n in names:
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return default


def without_options(args, *names):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in names:
            skip = True
        elif not any(n.startswith("--") and a.startswith(n + "=") for n in names):
            out.append(a)
    return out


def wait_for(predicate, timeout, interval=0.05):
    """Polls until predicate() is truthy; returns its last value."""
    deadline = time.time() + timeout
    value = predicate()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def as_utc(value):
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:  # the Redis backend's date_done is naive UTC
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


class WorkerUnderTest:
    """The interface both kinds of worker share: start(*celery_worker_args), nodename,
    pid, log (text), stop(), kill(), wait_exit(), alive(), cleanup()."""

    ready_marker = None

    def __init__(self, broker_url, backend_url):
        self.broker_url = broker_url
        self.backend_url = backend_url
        self.args = []

    @property
    def nodename(self):
        return expand_nodename(option_value(self.args, "-n", "--hostname",
                                            default="celery@%h"))

    def wait_ready(self, timeout=60):
        ok = wait_for(lambda: self.ready_marker in self.log or not self.alive(), timeout,
                      interval=0.1)
        return bool(ok) and self.alive()

    def alive(self):
        raise NotImplementedError

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class CeleriacWorker(WorkerUnderTest):
    """celeriac through testenv.Worker: -Q and -c are its own arguments, the rest of the
    Celery argument line goes through as `extra`."""

    ready_marker = "broker connected"

    def start(self, *args, python_pool=None):
        self.args = list(args)
        queues = option_value(self.args, "-Q", "--queues", default="celery").split(",")
        concurrency = int(option_value(self.args, "-c", "--concurrency", default="50"))
        extra = without_options(self.args, "-Q", "--queues", "-c", "--concurrency")
        self.w = testenv.Worker(self.broker_url, self.backend_url, queues, extra=extra,
                                concurrency=concurrency).start()
        self.proc = self.w.proc
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def log(self):
        return self.w.log_text()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        return self.w.stop(timeout=timeout)

    def kill(self):
        self.w.kill(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def cleanup(self):
        self.w.cleanup()


class PythonCeleryWorker(WorkerUnderTest):
    """Debian's Python Celery 5.2.6 worker (`celery -A operator_python_app worker`), in a
    session of its own so kill() also ends a prefork pool's children."""

    ready_marker = " ready."

    def start(self, *args, python_pool="threads"):
        self.args = list(args)
        fd, self.log_path = tempfile.mkstemp(prefix="celery-python-worker-", suffix=".log")
        os.close(fd)
        env = dict(os.environ, CELERIAC_E2E_BROKER=self.broker_url,
                   CELERIAC_E2E_BACKEND=self.backend_url)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", APP_MODULE, "worker", "-P", python_pool,
                 "-l", "info"] + self.args,
                cwd=HERE, env=env, stdout=log, stderr=log, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit(timeout)
            if rc is None:
                self.kill()
            return rc
        return self.proc.returncode

    def kill(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        # A prefork pool's children may outlive the main process for a moment.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def cleanup(self):
        self.stop(timeout=10)
        if not os.environ.get("CELERIAC_KEEP_LOGS"):
            os.unlink(self.log_path)


def make_worker(broker_url, backend_url):
    if WORKER_KIND == "python":
        return PythonCeleryWorker(broker_url, backend_url)
    if WORKER_KIND == "celeriac":
        return CeleriacWorker(broker_url, backend_url)
    raise ValueError("CELERIAC_E2E_WORKER must be celeriac or python, not %r" % WORKER_KIND)


class EventCollector:
    """An EventReceiver capturing into a list on a thread of its own."""

    def __init__(self, app, broker_url):
        self.conn = kombu.Connection(broker_url)
        self.events = []
        self.lock = threading.Lock()
        self.recv = app.events.Receiver(self.conn, handlers={"*": self._on_event})
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _on_event(self, event):
        with self.lock:
            self.events.append(event)

    def _run(self):
        try:
            self.recv.capture(limit=None, timeout=None, wakeup=True)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            if not self.recv.should_stop:
                self.error = exc

    def start(self, timeout=20):
        """Returns once the receiver's queue is bound and consumed (its consumer count
        is 1), so no event sent from now on can be missed."""
        self.thread.start()
        name = self.recv.queue.name

        def consuming():
            with kombu.Connection(self.conn.as_uri(include_password=True)) as c:
                try:
                    return c.default_channel.queue_declare(queue=name, passive=True)[2] >= 1
                except Exception:  # noqa: BLE001 - not declared yet
                    return False
        if not wait_for(consuming, timeout, interval=0.1):
            raise AssertionError("event receiver not consuming: %r" % self.error)
        return self

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def of(self, task_id):
        return [e for e in self.snapshot() if e.get("uuid") == task_id]

    def heartbeats(self, hostname):
        return [e for e in self.snapshot()
                if e["type"] == "worker-heartbeat" and e.get("hostname") == hostname]

    def wait(self, predicate, timeout):
        return wait_for(lambda: predicate(self.snapshot()), timeout)

    def stop(self):
        self.recv.should_stop = True
        self.thread.join(timeout=10)
        self.conn.release()


class OperatorTestCase(unittest.TestCase):
    """One RabbitMQ and one Redis per test class; helpers to start the worker under
    test with a Celery argument line and to drive it with Celery's own tools."""

    @classmethod
    def setUpClass(cls):
        cls.rabbit = testenv.RabbitServer().start()
        cls.redis = testenv.RedisServer().start()
        cls.app = client(cls.rabbit.url, cls.redis.url)

    @classmethod
    def tearDownClass(cls):
        cls.app.close()
        cls.redis.cleanup()
        cls.rabbit.cleanup()

    def setUp(self):
        # Run last: a test's AsyncResults are freed while Redis still answers (freed at
        # exit, each prints a "Connection refused" traceback).
        self.addCleanup(gc.collect)

    # -- helpers -------------------------------------------------------------------------

    def start_worker(self, *args, python_pool="threads", control=True):
        """Starts the worker under test with a Celery worker argument line. With
        `control`, also waits until it answers ping (a broadcast sent before its pidbox
        queue is bound would be lost)."""
        w = make_worker(self.rabbit.url, self.redis.url)
        w.start(*args, python_pool=python_pool)
        self.addCleanup(w.cleanup)
        self.assertTrue(w.wait_ready(), "worker did not start:\n" + w.log[-4000:])
        if control:
            self.assertTrue(self.wait_pong(w.nodename, 15),
                            "%s never answered ping:\n%s" % (w.nodename, w.log[-4000:]))
        return w

    def inspect(self, node, timeout=1.0):
        return self.app.control.inspect(destination=[node], timeout=timeout)

    def wait_pong(self, node, timeout):
        return wait_for(lambda: self.inspect(node, 0.5).ping() == {node: {"ok": "pong"}},
                        timeout)

    def control(self, node, method, **kwargs):
        """One node's reply to a control command (None if it sent none)."""
        replies = self.app.control.broadcast(method, arguments=kwargs, reply=True,
                                             destination=[node], timeout=5)
        self.assertLessEqual(len(replies), 1, replies)
        return replies[0][node] if replies else None

    def cli(self, *args, timeout=60):
        env = dict(os.environ, CELERIAC_E2E_BROKER=self.rabbit.url,
                   CELERIAC_E2E_BACKEND=self.redis.url)
        return subprocess.run([PYTHON, "-m", "celery", "-A", APP_MODULE] + list(args),
                              cwd=HERE, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def wait_active(self, node, task_ids, timeout=20):
        """Waits until `inspect active` lists every id; returns the active list."""
        want = set(task_ids)

        def listed():
            reply = self.inspect(node).active() or {}
            active = reply.get(node) or []
            return active if want <= {t["id"] for t in active} else None
        return wait_for(listed, timeout, interval=0.2)

    def send(self, name, *args, queue, **options):
        return self.app.send_task(name, args=list(args), queue=queue, **options)

    def wait_state(self, result, state, timeout=15):
        return wait_for(lambda: result.state == state, timeout)

    def queue_info(self, name):
        """(message_count, consumer_count) from a passive queue_declare."""
        with kombu.Connection(self.rabbit.url) as conn:
            _, messages, consumers = conn.default_channel.queue_declare(queue=name,
                                                                        passive=True)
            return messages, consumers
