"""The workers bench/run compares, each started the same way on the same servers.

What for: one place that knows how to start celeriac, Python Celery (prefork, threads,
gevent) and celery-node against a broker, a result backend and the llm-stub endpoints,
and at what concurrency (the documented choice below; bench/README.md explains it).
What not: measuring (proc_tree) or sending load (load). Owns the processes it starts;
stop() ends them (SIGTERM, then SIGKILL).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(BENCH, "..", "tests", "support"))
import testenv  # noqa: E402

NODE_DIR = os.path.join(BENCH, ".node")

# Concurrency per pool and workload kind. echo: a CPU-bound drain, so prefork gets one
# process per core; the thread and gevent pools get 100, because they run Celery's
# `synloop`, which blocks in drain_events (2 s timeout) between deferred operations, and
# at -c 8 (prefetch 32) drained 6-7 tasks/s here. llm: I/O-bound, so every pool gets
# the in-flight level, capped where a pool cannot go further on this machine (prefork:
# one ~40 MB process per task; threads: one OS thread per task).
CAPS = {"prefork": {"echo": 2, "llm": 64}, "threads": {"echo": 100, "llm": 1000},
        "gevent": {"echo": 100, "llm": 5000}}


def concurrency(name, kind, in_flight):
    if name == "celeriac":
        return 1000 if kind == "echo" else in_flight
    if name == "celery-node":
        return None  # no limit: celery-node acks on receipt and sets no prefetch
    return min(in_flight, CAPS[name.split("-")[-1]][kind]) if kind == "llm" else \
        CAPS[name.split("-")[-1]]["echo"]


RUNNING = []  # started and not yet stopped: the driver's `finally` stops them


def stop_all():
    for c in list(RUNNING):
        c.stop()


class Contender:
    def __init__(self, name, cmd, env, log_path):
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self.log,
                                     stderr=self.log, start_new_session=True)
        RUNNING.append(self)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=3000):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-n:]

    def stop(self):
        if self in RUNNING:
            RUNNING.remove(self)
        if self.alive():
            # Celery's prefork parent waits for its children on SIGTERM; the whole group
            # gets SIGKILL if it takes long (results of a cut-off run are not needed).
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            try:  # children a prefork parent left behind (its own session and group)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.log.close()
            if not os.environ.get("BENCH_KEEP_LOGS"):
                os.unlink(self.log_path)


def make(name, kind, in_flight, servers, queue, llm_config=None, endpoints=()):
    """A Contender not yet started. `endpoints`: [{"url", "key"}] for the non-celeriac
    workers' hand-written LLM task; `llm_config`: celeriac's balancer config."""
    fd, log_path = tempfile.mkstemp(prefix="bench-%s-" % name, suffix=".log")
    os.close(fd)
    c = concurrency(name, kind, in_flight)
    env = dict(os.environ, BENCH_BROKER=servers.rabbit.url, BENCH_BACKEND=servers.redis.url,
               BENCH_QUEUE=queue, BENCH_ENDPOINTS=json.dumps(list(endpoints)))
    if name == "celeriac":
        cmd = [testenv.celeriac_binary(), "worker", "-Q", queue, "-c", str(c),
               "--broker", servers.rabbit.url, "--result-backend", servers.redis.url,
               "-l", "warning", "--http-port", "0"]
        if kind == "llm":
            cmd += ["--llm-config", llm_config, "--prefetch-multiplier", "1"]
    elif name == "celery-node":
        env["NODE_PATH"] = os.path.join(NODE_DIR, "node_modules")
        cmd = ["node", os.path.join(BENCH, "node", "worker.js")]
    else:
        pool = name.split("-")[-1]
        env["PYTHONPATH"] = HERE
        env["BENCH_HTTP_POOL"] = str(max(c, 10))
        cmd = ["/usr/bin/python3", "-m", "celery", "-A", "bench_tasks", "worker",
               "-P", pool, "-c", str(c), "-Q", queue, "--loglevel", "warning",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return Contender(name, cmd, env, log_path), c


def node_available():
    return os.path.isdir(os.path.join(NODE_DIR, "node_modules", "celery-node"))


def install_node(log):
    """npm ci from bench/node/ into bench/.node/ (gitignored); False if npm is missing
    or the registry cannot be reached (the run then reports celery-node as skipped)."""
    if node_available():
        return True
    os.makedirs(NODE_DIR, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        with open(os.path.join(BENCH, "node", f)) as src, \
                open(os.path.join(NODE_DIR, f), "w") as dst:
            dst.write(src.read())
    try:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        log("celery-node not installed: %s" % e)
        return False
    if r.returncode != 0:
        log("celery-node not installed: npm ci failed: %s" % r.stderr[-500:])
    return node_available()


ALL = ["celeriac", "celery-prefork", "celery-threads", "celery-gevent", "celery-node"]
