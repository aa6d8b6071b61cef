"""Drain benchmark: pre-enqueue N celeriac.echo tasks, then start one celeriac worker
and measure how fast every result lands in Redis, and the worker's peak RSS.

    /usr/bin/python3 bench/worker/drain_bench.py --tasks 50000 -c 200 --loglevel warning
    /usr/bin/python3 bench/worker/drain_bench.py --tasks 50000 -c 200 --events

--events starts the worker with -E and binds a queue to the `celeryev` exchange (as
`celery events` or Flower would, with Celery's 5 s message TTL), so every task event is
routed and stored by the broker: what task events cost the drain rate.

Messages are Celery protocol v2, JSON, persistent, exactly as Celery 5.2 sends them
(headers and 3-element body), published with kombu to a throwaway RabbitMQ; results
go to a throwaway Redis. The worker acks late (after the result is stored), as by
default. This is a program that prints figures, never a test.
"""

import argparse
import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "support"))

import amqp.exceptions  # noqa: E402
import kombu  # noqa: E402
import kombu.exceptions  # noqa: E402
import redis as redis_py  # noqa: E402

import testenv  # noqa: E402


def enqueue(broker_url, queue, n):
    body = json.dumps([[{"x": 1}], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                        "chord": None}])
    published = 0
    while published < n:
        # RabbitMQ's flow control pauses a fast publisher; py-amqp then times out on the
        # socket. Reconnect and go on with a fresh task id. Publishes are not confirmed
        # (that would slow the enqueue a lot), so a few sent just before the timeout may
        # never reach the queue, and one that raised may have: main() therefore waits
        # for as many results as the queue holds, not for `n`.
        try:
            with kombu.Connection(broker_url, connect_timeout=120) as conn:
                channel = conn.channel()
                kombu.Queue(queue, kombu.Exchange(queue, "direct"),
                            routing_key=queue)(channel).declare()
                producer = kombu.Producer(channel)
                task_id = str(uuid.uuid4())
                while published < n:
                    headers = {"lang": "py", "task": "celeriac.echo", "id": task_id,
                               "shadow": None, "eta": None, "expires": None, "group": None,
                               "group_index": None, "retries": 0, "timelimit": [None, None],
                               "root_id": task_id, "parent_id": None,
                               "argsrepr": "({'x': 1},)", "kwargsrepr": "{}",
                               "origin": "bench@localhost", "ignore_result": False}
                    producer.publish(body, routing_key=queue, exchange="", headers=headers,
                                     content_type="application/json",
                                     content_encoding="utf-8", delivery_mode=2,
                                     correlation_id=task_id)
                    published += 1
                    task_id = str(uuid.uuid4())
        except (kombu.exceptions.OperationalError, OSError,
                amqp.exceptions.RecoverableChannelError) as e:
            print("publisher paused by the broker (%s); reconnecting" % e, flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=50000)
    ap.add_argument("-c", "--concurrency", type=int, default=200)
    ap.add_argument("--prefetch-multiplier", type=int, default=4)
    ap.add_argument("--loglevel", default="warning")
    ap.add_argument("--events", action="store_true",
                    help="-E, with a queue listening on celeryev as a monitor would")
    ap.add_argument("--no-monitor", action="store_true",
                    help="with --events: no queue bound to celeryev (the broker drops them)")
    args = ap.parse_args()

    rabbit = testenv.RabbitServer().start()
    redis = testenv.RedisServer().start()
    worker = None
    try:
        queue = "bench-drain"
        t = time.time()
        enqueue(rabbit.url, queue, args.tasks)
        # Every message in the queue has its own task id: the results to wait for.
        expected = rabbit.queue_counts(queue)[0]
        print("enqueued %d tasks in %.1f s" % (expected, time.time() - t), flush=True)
        if expected != args.tasks:
            print("(the publisher sent %d; %d reached the queue: unconfirmed publishes cut "
                  "off by its reconnects)" % (args.tasks, expected), flush=True)
        r = redis_py.Redis.from_url(redis.url)
        extra = ["--prefetch-multiplier", str(args.prefetch_multiplier)]
        if args.events:
            extra.append("-E")
        if args.events and not args.no_monitor:
            with kombu.Connection(rabbit.url) as conn:
                kombu.Queue("celeryev.bench", kombu.Exchange("celeryev", "topic"),
                            routing_key="#", message_ttl=5.0)(conn.channel()).declare()
        worker = testenv.Worker(rabbit.url, redis.url, [queue], concurrency=args.concurrency,
                                extra=extra)
        worker.args[worker.args.index("-l") + 1] = args.loglevel
        started = time.time()
        worker.start()
        first = None
        last_n, last_progress = 0, started
        while True:
            n = r.dbsize()
            now = time.time()
            if n and first is None:
                first = now
            if n != last_n:
                last_n, last_progress = n, now
            elif now - last_progress > 30:
                print("STALLED: %d of %d results, no progress for 30 s; queue ready/unacked=%s"
                      % (n, expected, rabbit.queue_counts(queue)))
                print(worker.log_text()[-4000:])
                return 1
            if n >= expected:
                break
            if worker.proc.poll() is not None:
                print(worker.log_text())
                return 1
            if now - started > 600:
                print("gave up after 600 s with %d results" % n)
                return 1
            time.sleep(0.005)
        done = time.time()
        rss_kb = peak_rss_kb(worker.proc.pid)
        cpu_s = cpu_seconds(worker.proc.pid)
        # Acks go out in the same loop turn as the stores; give them a moment, then check.
        time.sleep(0.5)
        ready, unacked = rabbit.queue_counts(queue)
        total = done - started
        print("drained %d tasks in %.2f s from worker start: %.0f tasks/s "
              "(%.0f tasks/s from the first result)"
              % (expected, total, expected / total, expected / max(done - first, 1e-9)))
        print("worker peak RSS (VmHWM): %.1f MB" % (rss_kb / 1024.0))
        print("worker CPU time: %.2f s (%.0f%% of one core while draining; RabbitMQ and Redis "
              "share the same %d cores)" % (cpu_s, 100.0 * cpu_s / total, os.cpu_count()))
        print("queue after drain: ready=%d unacked=%d" % (ready, unacked))
        print("settings: -c %d --prefetch-multiplier %d -l %s%s, acks after result stored"
              % (args.concurrency, args.prefetch_multiplier, args.loglevel,
                 " -E (task events, a queue bound to celeryev)" if args.events else ""))
        return 0
    finally:
        if worker:
            worker.cleanup()
        redis.cleanup()
        rabbit.cleanup()


if __name__ == "__main__":
    sys.exit(main())
