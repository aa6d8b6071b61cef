"""The README demo: local RabbitMQ + Redis, a celeriac worker, and a Python service
that enqueues Celery tasks exactly as it always has. Prints each result."""

import gc
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

import testenv  # noqa: E402
from celery import Celery  # noqa: E402


def run_demo(broker_url, backend_url):
    """What a Python service does: send tasks, read results. (A function of its own so
    the AsyncResults are gone before Redis stops.)"""
    app = Celery(broker=broker_url, backend=backend_url)
    started = time.time()
    r = app.send_task("celeriac.echo", args=[{"x": 1}], queue="gpt5-analyzer")
    print("celeriac.echo({'x': 1}) ->", r.get(timeout=10),
          "(%.1f ms)" % ((time.time() - started) * 1000))
    try:
        app.send_task("celeriac.fail", args=["demo failure", "ValueError"],
                      queue="response-generator").get(timeout=10)
    except ValueError as e:
        print("celeriac.fail raised in Python: ValueError(%r)" % str(e))
    app.close()


def main():
    print("starting RabbitMQ and Redis on loopback ...", flush=True)
    rabbit = testenv.RabbitServer().start()
    redis = testenv.RedisServer().start()
    worker = None
    try:
        worker = testenv.Worker(rabbit.url, redis.url, ["gpt5-analyzer", "response-generator"],
                                concurrency=200).start()
        if not worker.wait_log("broker connected"):
            print(worker.log_text())
            return 1
        print("celeriac worker up: %s" % " ".join(worker.args[1:7]), flush=True)

        run_demo(rabbit.url, redis.url)
        gc.collect()  # AsyncResult.__del__ talks to Redis: let it run while Redis is up
        return 0
    finally:
        if worker:
            code = worker.stop()
            print("worker stopped with exit code", code)
            worker.cleanup()
        redis.cleanup()
        rabbit.cleanup()


if __name__ == "__main__":
    sys.exit(main())
