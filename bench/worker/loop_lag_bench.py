"""Loop-lag benchmark: how late a celeriac worker's event loop runs while RabbitMQ is
blocked by a memory alarm and while Redis answers slowly.

    CELERIAC_BIN=build/worker/celeriac /usr/bin/python3 bench/worker/loop_lag_bench.py

Starts a throwaway RabbitMQ and Redis (tests/support/testenv.py) and one worker with
`--loop-lag-report 1`, which logs `loop lag p50_ms=.. p99_ms=.. max_ms=..` every second
(the lag of a 10 ms repeating timer: the time between its due time and its run). A
publisher thread keeps a steady load of celeriac.echo tasks going throughout. Phases:

  baseline     steady load only
  mem-alarm    `rabbitmqctl set_vm_memory_high_watermark 0.0001` (RabbitMQ blocks every
               connection that publishes). Just before it, tasks that publish are sent:
               celeriac.retry tasks with a large padding kwarg and a short countdown, so
               they come due during the alarm and each republishes its copy (Celery's
               Task.retry) on the blocked connection. Then the watermark is restored.
  redis-slow   another client sends `DEBUG SLEEP 0.5` to Redis back to back.

For each phase it prints the worker's loop lag over that phase's report lines: the
median of the per-second p50s, the highest per-second p99 and the highest max. The
target is p99 under 50 ms in every phase. This is a program that prints
figures, never a test.
"""

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "support"))

import amqp.exceptions  # noqa: E402
import kombu  # noqa: E402
import kombu.exceptions  # noqa: E402
import redis as redis_py  # noqa: E402

import testenv  # noqa: E402

LAG_LINE = re.compile(r"loop lag p50_ms=([\d.]+) p99_ms=([\d.]+) max_ms=([\d.]+)")


def headers_for(task, task_id, eta=None):
    return {"lang": "py", "task": task, "id": task_id, "shadow": None, "eta": eta,
            "expires": None, "group": None, "group_index": None, "retries": 0,
            "timelimit": [None, None], "root_id": task_id, "parent_id": None,
            "argsrepr": "()", "kwargsrepr": "{}", "origin": "bench@localhost",
            "ignore_result": False}


def body_for(args=(), kwargs=None):
    return json.dumps([list(args), kwargs or {},
                       {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])


class SteadyLoad(threading.Thread):
    """Publishes celeriac.echo tasks at `rate` per second until stopped. While RabbitMQ
    blocks publishers (memory alarm) its publishes simply wait: that is the broker's
    doing, not the worker's, and only the worker's loop is measured."""

    def __init__(self, broker_url, queue, rate):
        super().__init__(daemon=True)
        self.broker_url, self.queue, self.rate = broker_url, queue, rate
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self):
        interval = 1.0 / self.rate
        next_at = time.time()
        while not self.stop_event.is_set():
            try:
                with kombu.Connection(self.broker_url) as conn:
                    producer = kombu.Producer(conn.channel())
                    while not self.stop_event.is_set():
                        task_id = str(uuid.uuid4())
                        producer.publish(body_for([{"n": self.sent}]), routing_key=self.queue,
                                         exchange="",
                                         headers=headers_for("celeriac.echo", task_id),
                                         content_type="application/json",
                                         content_encoding="utf-8", delivery_mode=2,
                                         correlation_id=task_id)
                        self.sent += 1
                        next_at += interval
                        time.sleep(max(0.0, next_at - time.time()))
            except (OSError, kombu.exceptions.KombuError, amqp.exceptions.AMQPError):
                # py-amqp's socket gives up while the alarm blocks it: reconnect.
                time.sleep(0.5)
                next_at = time.time()


def iso_eta(at):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + (".%06d+00:00" % ((at % 1) * 1e6))


def publish_retry_burst(broker_url, queue, count, pad_bytes, countdown_s, spread_s):
    """`count` celeriac.retry tasks that retry once (republishing their padded body),
    due `countdown_s` from now, `spread_s` apart."""
    pad = "x" * pad_bytes
    start = time.time() + countdown_s
    with kombu.Connection(broker_url) as conn:
        producer = kombu.Producer(conn.channel())
        for i in range(count):
            eta = iso_eta(start + i * spread_s)
            task_id = str(uuid.uuid4())
            producer.publish(body_for([], {"countdown": 0, "succeed_after": 1, "pad": pad}),
                             routing_key=queue, exchange="",
                             headers=headers_for("celeriac.retry", task_id, eta=eta),
                             content_type="application/json", content_encoding="utf-8",
                             delivery_mode=2, correlation_id=task_id)


class DebugRedisServer(testenv.RedisServer):
    """testenv's throwaway Redis, started with DEBUG allowed (Redis 7 refuses it unless
    `enable-debug-command` says so at start-up)."""

    def start(self):
        import subprocess
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not testenv.wait_port(self.port, 10):
            raise RuntimeError("redis-server did not start on port %d" % self.port)
        return self


def lag_lines(text):
    return [tuple(float(x) for x in m.groups()) for m in LAG_LINE.finditer(text)]


def summarise(name, lines):
    if not lines:
        return "%-12s (no report lines)" % name
    p50s = sorted(l[0] for l in lines)
    return "%-12s reports=%3d  p50_ms=%7.1f  p99_ms=%8.1f  max_ms=%8.1f" % (
        name, len(lines), p50s[len(p50s) // 2], max(l[1] for l in lines),
        max(l[2] for l in lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=200, help="echo tasks per second")
    ap.add_argument("-c", "--concurrency", type=int, default=100)
    ap.add_argument("--phase-seconds", type=float, default=15)
    ap.add_argument("--retry-tasks", type=int, default=40,
                    help="padded retry tasks that republish during the alarm")
    ap.add_argument("--pad-kb", type=int, default=512)
    ap.add_argument("--eta-spread-ms", type=float, default=50,
                    help="the retry tasks' ETAs this far apart (0: all due at once)")
    args = ap.parse_args()

    rabbit = testenv.RabbitServer().start()
    redis = DebugRedisServer().start()
    worker = None
    load = None
    try:
        queue = "bench-lag"
        with kombu.Connection(rabbit.url) as conn:
            kombu.Queue(queue, kombu.Exchange(queue, "direct"), routing_key=queue)(
                conn.channel()).declare()
        worker = testenv.Worker(rabbit.url, redis.url, [queue], concurrency=args.concurrency,
                                extra=["--loop-lag-report", "1"])
        worker.start()
        if not worker.wait_log("broker connected", timeout=30):
            print(worker.log_text())
            return 1
        load = SteadyLoad(rabbit.url, queue, args.rate)
        load.start()
        time.sleep(3)  # warm up

        results = []

        def phase(name, during):
            before = len(worker.log_text())
            during()
            results.append((name, lag_lines(worker.log_text()[before:])))
            print(summarise(*results[-1]), flush=True)

        phase("baseline", lambda: time.sleep(args.phase_seconds))

        def alarm():
            publish_retry_burst(rabbit.url, queue, args.retry_tasks, args.pad_kb * 1024, 3,
                                args.eta_spread_ms / 1000.0)
            rabbit.ctl("set_vm_memory_high_watermark", "0.0001")
            time.sleep(args.phase_seconds)
            rabbit.ctl("set_vm_memory_high_watermark", "0.4")
            time.sleep(3)  # what was blocked flows again
        phase("mem-alarm", alarm)

        def slow_redis():
            client = redis_py.Redis.from_url(redis.url, socket_timeout=30)
            deadline = time.time() + args.phase_seconds
            sleeps = 0
            while time.time() < deadline:
                client.execute_command("DEBUG", "SLEEP", "0.5")
                sleeps += 1
            print("  (%d x DEBUG SLEEP 0.5)" % sleeps)
        phase("redis-slow", slow_redis)

        load.stop_event.set()
        alive = worker.proc.poll() is None
        print("echo tasks published: %d; worker %s" % (load.sent, "alive" if alive else
                                                       "EXITED %s" % worker.proc.returncode))
        print()
        print("| phase | p50 ms (median of 1 s reports) | p99 ms (worst 1 s report) | max ms |")
        print("|---|---|---|---|")
        for name, lines in results:
            if lines:
                p50s = sorted(l[0] for l in lines)
                print("| %s | %.1f | %.1f | %.1f |" % (name, p50s[len(p50s) // 2],
                                                     max(l[1] for l in lines),
                                                     max(l[2] for l in lines)))
            else:
                print("| %s | no reports (loop stalled the whole phase?) | | |" % name)
        return 0
    finally:
        if load:
            load.stop_event.set()
        if worker:
            worker.cleanup()
        redis.cleanup()
        rabbit.cleanup()


if __name__ == "__main__":
    sys.exit(main())
