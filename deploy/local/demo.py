"""The README demo: local RabbitMQ + Redis, a celeriac worker, and a Python service
that enqueues Celery tasks exactly as it always has. Prints each result."""

import gc
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

import testenv  # noqa: E402
from celery import Celery  # noqa: E402


def run_demo(broker_url, backend_url):
    """What a Python service does: send tasks, read results. (A function of its own so
    the AsyncResults are gone before Redis stops.)"""
    app = Celery(broker=broker_url, backend=backend_url)
    app.conf.task_routes = {"gpt5_analyzer.*": {"queue": "gpt5-analyzer"},
                            "response_generator.*": {"queue": "response-generator"}}
    started = time.time()
    analysis = app.send_task("gpt5_analyzer.analyze", kwargs={
        "image": "https://example.com/uploads/photo-123.jpg", "user_id": "demo-user",
        "locale": "ko", "hint": "a plastic bottle with a label"}).get(timeout=30)
    print("gpt5_analyzer.analyze -> (%.1f ms)" % ((time.time() - started) * 1000))
    print(json.dumps(analysis, ensure_ascii=False, indent=2))
    rules = {"region": "seoul", "category": analysis["overall_category"],
             "steps": ["Empty and rinse it", "Remove the label", "Put it in the recycling bin"]}
    started = time.time()
    answer = app.send_task("response_generator.generate", args=[analysis],
                           kwargs={"rules": rules, "locale": "ko",
                                   "question": "How do I throw this away?"}).get(timeout=30)
    print("response_generator.generate -> (%.1f ms)" % ((time.time() - started) * 1000))
    print(json.dumps(answer, ensure_ascii=False, indent=2))
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
    stub = testenv.LlmStub().start()
    print("llm-stub (OpenAI-compatible stub backend) on %s" % stub.url, flush=True)
    workdir = tempfile.mkdtemp(prefix="celeriac-demo-")
    os.environ.setdefault("STUB_API_KEY", "sk-demo-stub-key")
    worker = None
    try:
        config = testenv.write_stub_llm_config(workdir, stub)
        worker = testenv.Worker(rabbit.url, redis.url, ["gpt5-analyzer", "response-generator"],
                                extra=["--llm-config", config], concurrency=200).start()
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
        stub.stop()
        redis.cleanup()
        rabbit.cleanup()


if __name__ == "__main__":
    sys.exit(main())
