"""The servers and workers the fault driver runs, and its Python client. DurableRedis
(Redis with every write fsynced, so killing it loses nothing stored), DriverWorker (a
celeriac worker whose log stays in the run directory), write_balancer_config (one
endpoint, the logging proxy, two keys), ResultWatcher (the first terminal state each task
id published, as a client's get() saw it) and DriverServices, the part of the Driver that
starts them, restarts a worker that exited on its own, and cleans up.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import kombu.pools  # noqa: E402
import redis as redis_py  # noqa: E402
from celery import Celery  # noqa: E402

import corpus_lib  # noqa: E402
import testenv  # noqa: E402
from driver_config import DEAD, DLX, HEARTBEAT_S, KEY_A, KEY_B, T0, TASK_QUEUES, log  # noqa: E402
from llm_proxy import LlmProxy  # noqa: E402


class DurableRedis(testenv.RedisServer):
    """testenv's Redis with an append-only file fsynced on every write, so killing it
    (our outage) loses nothing that was stored: a lost result is then the worker's."""

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "yes",
             "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not testenv.wait_port(self.port, 10):
            raise RuntimeError("redis-server did not start on port %d" % self.port)
        return self


class DriverWorker(testenv.Worker):
    """A celeriac worker whose logs stay in the run directory, one file per start."""

    def __init__(self, index, generation, run_dir, *args, **kwargs):
        super().__init__(*args, **kwargs)
        os.unlink(self.log_path)
        self.log_path = os.path.join(run_dir, "worker%d-%d.log" % (index, generation))
        self.index = index


def write_balancer_config(directory, proxy):
    path = os.path.join(directory, "driver-llm.yaml")
    with open(path, "w") as f:
        f.write("""# Fault driver: one endpoint (the logging proxy in front of the llm-stub), two keys.
strategy: round_robin
timeout: 30
max_queue_wait: 1
max_attempts: 4
circuit_breaker: {consecutive_failures: 3, cooldown: 2}
endpoints:
  - name: stub
    url: %s/v1
    provider: openai
    keys:
      - {alias: key-a, env: DRIVER_KEY_A}
      - {alias: key-b, env: DRIVER_KEY_B}
    models: [gpt-4o, gpt-4o-mini]
routes:
  waste_analysis:
    normal: [gpt-4o, gpt-4o-mini]
  response_generation:
    normal: [gpt-4o-mini, gpt-4o]
pricing:
  gpt-4o: {input: 2.5, output: 10}
  gpt-4o-mini: {input: 0.15, output: 0.6}
""" % proxy.url)
    return path


class ResultWatcher:
    """What a client blocked in AsyncResult.get() sees: the first terminal state PUBLISHed
    for each task id (Celery's Redis backend waits on that channel, not on the key). A
    FAILURE published first and overwritten later by a SUCCESS has already been raised in
    the caller. Re-subscribes after a Redis outage; what is published while it is not
    subscribed is simply not seen (only positive evidence counts)."""

    TERMINAL = ("SUCCESS", "FAILURE", "REVOKED")

    def __init__(self, url):
        self.url = url
        self.first = {}  # key bytes -> (status, exception text or None)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="result-watcher", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def run(self):
        prefix = corpus_lib.RESULT_PREFIX.encode()
        while not self.stop.is_set():
            try:
                client = redis_py.Redis.from_url(self.url, socket_timeout=5)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(prefix + b"*")
                while not self.stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    if not msg or msg.get("type") != "pmessage":
                        continue
                    key = msg["channel"][len(prefix):]
                    if key in self.first:
                        continue
                    try:
                        doc = corpus_lib.loads(msg["data"])
                    except (ValueError, UnicodeDecodeError):
                        continue
                    status = doc.get("status") if isinstance(doc, dict) else None
                    if status in self.TERMINAL:
                        text = None if status == "SUCCESS" else "%s: %s" % (
                            (doc.get("result") or {}).get("exc_type")
                            if isinstance(doc.get("result"), dict) else "?",
                            corpus_lib.exception_text(doc.get("result"))[:160])
                        self.first[key] = (status, text)
            except (redis_py.exceptions.RedisError, OSError):
                self.stop.wait(0.5)

    def first_terminal(self, task_id):
        key = task_id if isinstance(task_id, bytes) else task_id.encode("utf-8", "surrogatepass")
        return self.first.get(key)


class DriverServices:
    """The Driver's services (a mixin of fault_driver.Driver, whose __init__ sets the
    state used here)."""

    def start_services(self):
        os.environ["DRIVER_KEY_A"] = KEY_A
        os.environ["DRIVER_KEY_B"] = KEY_B
        self.rabbit = testenv.RabbitServer().start()
        self.redis = DurableRedis().start()
        self.stub = testenv.LlmStub(["--latency-ms", str(self.mode["stub_latency_ms"])]).start()
        self.proxy = LlmProxy("127.0.0.1", self.stub.port).start()
        self.llm_config = write_balancer_config(self.run_dir, self.proxy)
        pub = corpus_lib.RawPublisher(self.rabbit.url)
        for q in TASK_QUEUES:  # as the workers will declare them (classic, durable)
            pub.channel.queue_declare(q, durable=True, auto_delete=False)
        corpus_lib.dead_letter_policy(self.rabbit, pub, "^(%s)$" % "|".join(TASK_QUEUES),
                                      DLX, DEAD)
        pub.close()
        for i in range(2):
            self.start_worker(i)
        for i in range(2):
            if not self.workers[i].wait_log("broker connected", timeout=60):
                raise RuntimeError("worker %d did not connect:\n%s"
                                   % (i, self.workers[i].log_text()[-3000:]))
        self.app = self.make_app()
        self.load = None
        self.redis_client = redis_py.Redis.from_url(self.redis.url)
        self.watcher = ResultWatcher(self.redis.url).start()

    def make_app(self):
        """The Python client: Celery with publisher confirms (a send that returns is on
        the broker) and no result backend (the driver reads Redis itself, so a Redis
        outage never fails a send)."""
        app = Celery("fault-driver", broker=self.rabbit.url)
        app.conf.broker_transport_options = {"confirm_publish": True}
        app.conf.broker_connection_retry_on_startup = True
        app.conf.task_routes = {"gpt5_analyzer.*": {"queue": "gpt5-analyzer"},
                                "response_generator.*": {"queue": "response-generator"}}
        return app

    def start_worker(self, i):
        self.generations[i] += 1
        queues = TASK_QUEUES + ["driver-probe-%d" % i]
        w = DriverWorker(i, self.generations[i], self.run_dir, self.rabbit.url, self.redis.url,
                         queues, concurrency=self.mode["concurrency"],
                         extra=["--llm-config", self.llm_config, "--heartbeat", str(HEARTBEAT_S),
                                "--delay-tiers", self.mode["delay_tiers"],
                                "--max-parked", "3600", "-n", "driver%d@%%h" % i])
        w.start()
        self.workers[i] = w
        self.all_workers.append(w)
        return w

    def monitor(self):
        """Restarts a worker that exited without the driver's doing, and records it (a
        worker that keeps dying is given up after 40 restarts in all)."""
        given_up = set()
        while not self.stop_event.wait(0.2):
            for i in range(len(self.workers)):
                with self.lock:
                    # Read under the lock: a worker the driver killed and restarted while
                    # we waited for it is the new one now (the old one's -9 was counted
                    # as an exit the driver did not cause).
                    w = self.workers[i]
                    if i in self.held or i in given_up or w is None or w.proc.poll() is None:
                        continue
                    code = w.proc.returncode
                    self.unexpected_exits.append((i, code, time.time() - T0, w.log_path))
                    self.disruptions.append((time.time(), time.time() + 10))
                    if len(self.unexpected_exits) > 40:
                        log("worker %d EXITED on its own (code %s); not restarted again" % (i, code))
                        given_up.add(i)
                        continue
                    log("worker %d EXITED on its own (code %s); restarting it" % (i, code))
                    time.sleep(1)
                    self.start_worker(i)

    def reset_pool(self):
        """A new client app after a failed publish (a broker restart leaves the old one's
        pooled connections dead)."""
        # kombu keeps producer pools in a process-wide registry keyed by broker URL: a new
        # app alone would get the same dead pool back.
        kombu.pools.reset()
        self.app = self.make_app()
        if self.load is not None:
            self.load.app = self.app

    def cleanup(self, keep):
        self.stop_event.set()
        if getattr(self, "watcher", None) is not None:
            self.watcher.stop.set()
        for w in self.workers:
            if w is not None:
                if w.proc and w.proc.poll() is None:
                    w.kill(signal.SIGCONT)
                try:
                    w.stop(timeout=10)
                except Exception:  # noqa: BLE001
                    pass
                if getattr(w, "log", None):
                    w.log.close()
        for name in ("proxy", "stub"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.stop()
        for name in ("redis", "rabbit"):  # their directories go; the worker logs stay
            obj = getattr(self, name, None)
            if obj is not None:
                obj.cleanup()
        if not keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
