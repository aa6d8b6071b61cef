"""Big-payload benchmark: N prefetched analysis tasks, each carrying a data: URL image.

    /usr/bin/python3 bench/worker/big_payload_bench.py --tasks 400 --image-mib 4

Starts a throwaway RabbitMQ, Redis and the llm-stub (answering after --latency-ms, long
enough that nothing finishes during the measurement), one celeriac worker with
`-c 1 --prefetch-multiplier N`, and sends N gpt5_analyzer.analyze tasks from Python
Celery, each with a base64 data: URL of --image-mib MiB. One task runs (its LLM call
waits on the stub); the other N-1 wait in the worker's prefetch. Once the broker reports
all N unacknowledged, it reads the worker's resident memory and prints it against the
raw message bytes the worker holds. The bar: RSS under 2x those bytes. A program
that prints figures, never a test.
"""

import argparse
import base64
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "support"))

from celery import Celery  # noqa: E402

import testenv  # noqa: E402


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def data_url(mib, seed):
    # Random bytes, so nothing along the way can share or compress them.
    raw = random.Random(seed).randbytes(mib * 1024 * 1024 * 3 // 4)
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--image-mib", type=int, default=4)
    ap.add_argument("--latency-ms", type=int, default=600000)
    ap.add_argument("--worker", default=None, help="celeriac binary (default: build/)")
    args = ap.parse_args()
    if args.worker:
        os.environ["CELERIAC_BIN"] = os.path.abspath(args.worker)
    os.environ.setdefault("STUB_API_KEY", "sk-stub-bench-not-a-real-key")

    workdir = tempfile.mkdtemp(prefix="celeriac-bigpayload-")
    rabbit = testenv.RabbitServer().start()
    redis = testenv.RedisServer().start()
    stub = testenv.LlmStub(["--latency-ms", str(args.latency_ms)]).start()
    worker = None
    try:
        # Every call must stay open for the whole latency: a deadline above it.
        config = testenv.write_stub_llm_config(workdir, stub, max_queue_wait_s=10,
                                               timeout_s=args.latency_ms // 1000 + 60)
        worker = testenv.Worker(rabbit.url, redis.url, ["gpt5-analyzer"], concurrency=1,
                                extra=["--llm-config", config,
                                       "--prefetch-multiplier", str(args.tasks)])
        worker.args[worker.args.index("-l") + 1] = "warning"
        worker.start()
        if not worker.wait_log("broker connected", timeout=30) and worker.proc.poll() is not None:
            print(worker.log_text())
            return 1
        idle_kb = status_kb(worker.proc.pid, "VmRSS")

        app = Celery(broker=rabbit.url, backend=redis.url)
        app.conf.task_routes = {"gpt5_analyzer.*": {"queue": "gpt5-analyzer"}}
        images = [data_url(args.image_mib, i % 8) for i in range(min(args.tasks, 8))]
        body_bytes = 0
        t = time.time()
        for i in range(args.tasks):
            image = images[i % len(images)]
            body_bytes += len(image)
            app.send_task("gpt5_analyzer.analyze",
                          kwargs={"image": image, "user_id": "u-%d" % i, "locale": "ko"})
        print("sent %d tasks of %d MiB images in %.1f s" % (args.tasks, args.image_mib,
                                                           time.time() - t), flush=True)

        deadline = time.time() + 600
        counts = (0, 0)
        while time.time() < deadline:
            counts = rabbit.queue_counts("gpt5-analyzer")
            if counts[1] >= args.tasks:
                break
            time.sleep(1)
        # Unacked counts what the broker sent, some still in socket buffers: wait until
        # the worker's memory stops growing (3 s without change, at most 120 s).
        rss_kb, stable_since = status_kb(worker.proc.pid, "VmRSS"), time.time()
        settle_deadline = time.time() + 120
        while time.time() - stable_since < 3 and time.time() < settle_deadline:
            time.sleep(0.5)
            now_kb = status_kb(worker.proc.pid, "VmRSS")
            if abs(now_kb - rss_kb) > 1024:
                rss_kb, stable_since = now_kb, time.time()
        hwm_kb = status_kb(worker.proc.pid, "VmHWM")
        held_mib = body_bytes / 1048576.0
        print("broker: %d ready, %d unacked (held by the worker)" % counts)
        print("raw image bytes held by the worker: %.0f MiB" % held_mib)
        print("worker RSS: %.0f MiB (%.2fx the held bytes), peak %.0f MiB, idle before %.0f MiB"
              % (rss_kb / 1024.0, rss_kb / 1024.0 / held_mib, hwm_kb / 1024.0, idle_kb / 1024.0))
        return 0 if counts[1] >= args.tasks else 1
    finally:
        if worker:
            worker.cleanup()
        stub.stop()
        redis.cleanup()
        rabbit.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
