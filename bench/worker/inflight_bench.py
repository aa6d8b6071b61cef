"""In-flight benchmark: N gpt5_analyzer.analyze tasks held open at once by one worker.

    /usr/bin/python3 bench/worker/inflight_bench.py --tasks 5000 --latency-ms 30000
    /usr/bin/python3 bench/worker/inflight_bench.py --tasks 5000 --latency-ms 30000 --http2

With --http2 the stub's endpoint says `http2: true` (h2c to the stub, calls multiplexed
as streams over at most --max-connections connections of --max-streams streams each);
without it every call has an HTTP/1.1 connection of its own.

Starts a throwaway RabbitMQ, Redis and the project's llm-stub (answering every chat
completion after --latency-ms), one celeriac worker with -c N and the LLM tasks, then
sends N analysis tasks from Python Celery. It waits until the stub reports N requests
in flight at once, reads the worker's resident memory then (VmRSS, and the peak VmHWM),
and waits for every result. This is a program that prints figures, never a test.
"""

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "support"))

from celery import Celery  # noqa: E402

import testenv  # noqa: E402

IMAGE = "https://example.com/uploads/photo-123.jpg"


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--latency-ms", type=int, default=30000)
    ap.add_argument("--http2", action="store_true",
                    help="configure the endpoint with http2: true")
    ap.add_argument("--max-connections", type=int, default=8,
                    help="with --http2: the endpoint's max_connections")
    ap.add_argument("--max-streams", type=int, default=0,
                    help="with --http2: max_streams_per_connection (default: twice "
                         "--tasks / --max-connections)")
    args = ap.parse_args()
    os.environ.setdefault("STUB_API_KEY", "sk-stub-bench-not-a-real-key")

    workdir = tempfile.mkdtemp(prefix="celeriac-inflight-")
    rabbit = testenv.RabbitServer().start()
    redis = testenv.RedisServer().start()
    stub = testenv.LlmStub(["--latency-ms", str(args.latency_ms)]).start()
    worker = None
    try:
        # Every call must stay open for the whole latency: a deadline above it, and an
        # attempt timeout above it too (the endpoint's default is 60 s: a longer
        # --latency-ms would otherwise time every attempt out and measure retries).
        wait_s = args.latency_ms // 1000 + 60
        extra = {"timeouts": "{total: %d}" % wait_s}
        if args.http2:
            # Twice the even share: curl does not always open every connection it may.
            streams = args.max_streams or 2 * -(-args.tasks // args.max_connections)
            extra.update({"http2": "true", "max_connections": args.max_connections,
                          "max_streams_per_connection": streams})
            print("endpoint: http2: true, max_connections: %d, max_streams_per_connection: %d"
                  % (args.max_connections, streams))
        config = testenv.write_stub_llm_config(workdir, stub, max_queue_wait_s=10,
                                               timeout_s=wait_s,
                                               endpoint_extra=extra)
        worker = testenv.Worker(rabbit.url, redis.url, ["gpt5-analyzer"],
                                concurrency=args.tasks,
                                extra=["--llm-config", config, "--prefetch-multiplier", "1"])
        worker.args[worker.args.index("-l") + 1] = "warning"
        worker.start()
        if not worker.wait_log("broker connected", timeout=30) and worker.proc.poll() is not None:
            print(worker.log_text())
            return 1
        idle_rss = status_kb(worker.proc.pid, "VmRSS")

        app = Celery(broker=rabbit.url, backend=redis.url)
        app.conf.task_routes = {"gpt5_analyzer.*": {"queue": "gpt5-analyzer"}}
        t = time.time()
        results = [app.send_task("gpt5_analyzer.analyze",
                                 kwargs={"image": IMAGE, "user_id": "u-%d" % i, "locale": "ko"})
                   for i in range(args.tasks)]
        print("sent %d tasks in %.1f s" % (args.tasks, time.time() - t), flush=True)

        deadline = time.time() + args.latency_ms / 1000.0 + 60
        in_flight = 0
        while time.time() < deadline:
            in_flight = stub.stats()["totals"]["in_flight"]
            if in_flight >= args.tasks:
                break
            time.sleep(0.2)
        rss = status_kb(worker.proc.pid, "VmRSS")
        fds = open_fds(worker.proc.pid)
        print("stub reports %d requests in flight at once (%.1f s after the first send)"
              % (in_flight, time.time() - t))
        print("worker RSS with them in flight: %.1f MB (idle before: %.1f MB); %d open fds"
              % (rss / 1024.0, idle_rss / 1024.0, fds))

        t_wait = time.time()
        ok = 0
        failures = {}
        for r in results:
            try:
                ok += 1 if r.get(timeout=args.latency_ms / 1000.0 + 120)["meta"] else 0
            except Exception as e:  # a task's stored failure: counted and named, not fatal
                key = "%s: %s" % (type(e).__name__, e)
                failures[key] = failures.get(key, 0) + 1
        print("results: %d of %d analyses stored, the last %.1f s after the wait began"
              % (ok, args.tasks, time.time() - t_wait))
        for key, count in sorted(failures.items()):
            print("failed: %d x %s" % (count, key))
        print("worker peak RSS (VmHWM) over the run: %.1f MB"
              % (status_kb(worker.proc.pid, "VmHWM") / 1024.0))
        totals = stub.stats()["totals"]
        print("stub in_flight_peak: %d" % totals["in_flight_peak"])
        if os.environ.get("CELERIAC_KEEP_LOGS"):
            print("worker log: %s" % worker.log_path)
        print("stub connections by protocol: %s; API requests by protocol: %s"
              % (totals["connections_by_protocol"], totals["requests_by_protocol"]))
        print("worker bytes per waiting call (RSS in flight - idle) / tasks: %.1f KB"
              % ((rss - idle_rss) / float(args.tasks)))
        # Collected now, while Redis is up: an AsyncResult left in a reference cycle
        # would go at interpreter exit, after Redis has stopped, and Celery's
        # unsubscribe in AsyncResult.__del__ would print a traceback then.
        del results
        gc.collect()
        return 0 if in_flight >= args.tasks and ok == args.tasks else 1
    finally:
        if worker:
            worker.cleanup()
        stub.stop()
        redis.cleanup()
        rabbit.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
