"""Throwaway servers and worker processes for celeriac's end-to-end tests.

Each RabbitServer / RedisServer runs in its own temp dir on free loopback ports and is
killed on stop(); nothing touches the system services. Used by tests/e2e/*.py, the
benchmark and the README demo. Run with Debian's /usr/bin/python3 (python3-celery).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from loopback_ports import free_port, reserve_ports  # noqa: F401  (free_port: for the tests)

RABBIT_BIN = "/usr/lib/rabbitmq/bin"
# rabbitmqctl calls one test may have running at once (each is an Erlang node).
RABBITMQ_CTL_PORTS = 8


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.closing(socket.socket()) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="celeriac-redis-")
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, 10):
            raise RuntimeError("redis-server did not start on port %d" % self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def ensure_running(self):
        """Starts it again (same port) if a test stopped it, so one failed outage test
        does not fail every later test that shares this server."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitServer:
    """A private RabbitMQ node (its own node name, ports, mnesia dir and cookie)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="celeriac-rabbit-")
        # The AMQP port, the node's distribution port, and a range for the Erlang
        # nodes rabbitmqctl starts (its default, 35672-35682, is shared by every node).
        self.port = reserve_ports(2 + RABBITMQ_CTL_PORTS)
        self.dist_port = self.port + 1
        self.node = "celeriac-%d@localhost" % self.port
        os.makedirs(os.path.join(self.dir, "home"), exist_ok=True)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("loopback_users = none\n")
        self.proc = None

    @property
    def url(self):
        return "amqp://guest:guest@127.0.0.1:%d//" % self.port

    def env(self):
        env = dict(os.environ)
        env.update({
            "HOME": os.path.join(self.dir, "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.dist_port + 1),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.dist_port + RABBITMQ_CTL_PORTS),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    def start(self, timeout=60):
        # The child has its own copy of the file; ours is closed at once.
        with open(os.path.join(self.dir, "server.out"), "ab") as log:
            self.proc = subprocess.Popen([os.path.join(RABBIT_BIN, "rabbitmq-server")],
                                         env=self.env(), stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rabbitmq-server exited; see %s; its output ends:\n%s"
                                   % (self.dir, self.output_tail()))
            if wait_port(self.port, 0.5) and self.ctl("-q", "status", check=False) == 0:
                return self
        raise RuntimeError("rabbitmq-server did not come up in %d s; its output ends:\n%s"
                           % (timeout, self.output_tail()))

    def output_tail(self, lines=30):
        """The end of the node's console output (why it did not start, when it did not)."""
        try:
            with open(os.path.join(self.dir, "server.out"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return str(e)

    def ctl(self, *args, check=True, capture=False):
        cmd = [os.path.join(RABBIT_BIN, "rabbitmqctl"), "-n", self.node] + list(args)
        r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("rabbitmqctl %s failed: %s" % (" ".join(args), r.stderr))
        return r.stdout if capture else r.returncode

    def queue_counts(self, name):
        """(ready, unacked) for queue `name`, or (0, 0) if it does not exist."""
        out = self.ctl("-q", "list_queues", "name", "messages_ready",
                       "messages_unacknowledged", "--no-table-headers", capture=True)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == name:
                return int(parts[1]), int(parts[2])
        return 0, 0

    def wait_queue_counts(self, name, expected, timeout=60):
        """Polls until queue `name` holds `expected` (ready, unacked); returns the last
        counts. Give a deadline, never a pause: one rabbitmqctl call takes 1 s on an idle
        machine and over 10 s while a build runs beside the tests."""
        deadline = time.time() + timeout
        counts = self.queue_counts(name)
        while counts != expected and time.time() < deadline:
            time.sleep(0.1)
            counts = self.queue_counts(name)
        return counts

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.ctl("stop", check=False)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self):
        self.stop()
        self.print_connection_trouble()
        # epmd is shared by every node on the host; leave it running.
        shutil.rmtree(self.dir, ignore_errors=True)

    def print_connection_trouble(self, limit=40):
        """Copies the node's connection warnings and errors to stderr (ctest shows them
        when a test failed), since the node's directory is removed after the run."""
        log_dir = os.path.join(self.dir, "log")
        lines = []
        for name in sorted(os.listdir(log_dir)) if os.path.isdir(log_dir) else []:
            with open(os.path.join(log_dir, name), errors="replace") as f:
                # Multi-line entries repeat their "[error]" prefix on every line; the
                # supervisor reports of channels closing on shutdown are noise.
                lines += [line.rstrip() for line in f
                          if ("[warning]" in line or "[error]" in line)
                          and "supervisor" not in line and "errorContext" not in line
                          and "offender" not in line and "{" not in line[60:62]]
        for line in lines[-limit:]:
            print("rabbitmq: " + line, file=sys.stderr)


def celeriac_binary():
    path = os.environ.get("CELERIAC_BIN")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "build", "worker", "celeriac")
    return os.path.abspath(path)


class Worker:
    """A celeriac worker process; logs go to a file so tests can read them."""

    def __init__(self, broker_url, backend_url, queues, extra=(), concurrency=50):
        self.args = [celeriac_binary(), "worker", "-Q", ",".join(queues),
                     "-c", str(concurrency), "--broker", broker_url,
                     "--result-backend", backend_url, "-l", "info"] + list(extra)
        fd, self.log_path = tempfile.mkstemp(prefix="celeriac-worker-", suffix=".log")
        os.close(fd)
        self.proc = None
        self.env = None  # the process environment; None: this one's

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log, env=self.env)
        return self

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, needle, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log_text():
                return True
            if self.proc.poll() is not None:
                return needle in self.log_text()
            time.sleep(0.05)
        return False

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode if self.proc else None

    def sanitizer_reports(self):
        """ASan/UBSan/LSan reports in the log (the sanitizer build runs the same tests)."""
        text = self.log_text()
        return [line for line in text.splitlines()
                if "ERROR: AddressSanitizer" in line or "runtime error:" in line
                or "ERROR: LeakSanitizer" in line]

    def cleanup(self):
        self.stop()
        if getattr(self, "log", None):
            self.log.close()
        reports = self.sanitizer_reports()
        if reports:
            raise AssertionError("sanitizer reports in %s: %s" % (self.log_path, reports[:3]))
        if os.environ.get("CELERIAC_KEEP_LOGS"):
            return
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)


def llm_stub_binary():
    path = os.environ.get("LLM_STUB_BIN")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "build", "tests", "support", "llm_stub", "llm-stub")
    return os.path.abspath(path)


class LlmStub:
    """The project's OpenAI-compatible stub backend (tests/support/llm_stub)."""

    def __init__(self, extra=()):
        self.args = [llm_stub_binary(), "--port", "0"] + list(extra)
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("llm-stub listening on 127.0.0.1:"):
            raise RuntimeError("llm-stub did not start: %r" % line)
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def admin(self, method, path, body=None):
        import json
        import urllib.request
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None

    def fault(self, **spec):
        return self.admin("POST", "/admin/faults", spec)

    def clear_faults(self):
        return self.admin("DELETE", "/admin/faults")

    def stats(self):
        return self.admin("GET", "/admin/stats")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    cleanup = stop


def write_stub_llm_config(directory, stub, cooldown_s=5, max_queue_wait_s=2, timeout_s=30,
                          endpoint_extra=None):
    """A balancer config for the LLM tasks against one llm-stub (key from STUB_API_KEY).
    `timeout_s` is each call's deadline: benchmarks that hold calls open raise it.
    `endpoint_extra` adds fields to the stub's endpoint, e.g. {"http2": "true"}."""
    extra = "".join("    %s: %s\n" % kv for kv in sorted((endpoint_extra or {}).items()))
    path = os.path.join(directory, "llm-stub.yaml")
    with open(path, "w") as f:
        f.write("""# Balancer config for the local stub backend (written by tests/support/testenv.py)
strategy: round_robin
timeout: %(timeout)d
max_queue_wait: %(wait)d
circuit_breaker: {consecutive_failures: 3, cooldown: %(cooldown)d}
endpoints:
  - name: stub
    url: %(url)s/v1
    provider: openai
    api_key_env: STUB_API_KEY
    models: [gpt-4o, gpt-4o-mini]
%(extra)sroutes:
  waste_analysis:
    normal: [gpt-4o, gpt-4o-mini]
  response_generation:
    normal: [gpt-4o-mini, gpt-4o]
pricing:
  gpt-4o: {input: 2.5, output: 10}
  gpt-4o-mini: {input: 0.15, output: 0.6}
""" % {"url": stub.url, "cooldown": cooldown_s, "wait": max_queue_wait_s, "timeout": timeout_s,
       "extra": extra})
    return path
