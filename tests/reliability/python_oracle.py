#!/usr/bin/python3
"""Sends the hostile corpus to Python Celery 5.2.6's own worker (Debian's python3-celery,
`-P solo`, tasks named like celeriac's built-ins in oracle_app.py) and prints what it did
with each case: the stored state, the exception, what was left on the queue, whether the
message was dead-lettered, and whether the worker survived and still served. The
`python_celery` line of each corpus file was written from this output.

    /usr/bin/python3 tests/reliability/python_oracle.py [case ...] [--json out.json]

Not part of ctest (it tests Celery, not celeriac). The LLM tasks' cases are skipped:
those are celeriac's own tasks.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import redis as redis_py  # noqa: E402

import corpus_lib  # noqa: E402
import testenv  # noqa: E402

QUEUE = "oracle-q"


class PythonWorker:
    def __init__(self, rabbit, redis):
        self.env = dict(os.environ, ORACLE_BROKER=rabbit.url, ORACLE_BACKEND=redis.url)
        self.log_path = os.path.join(rabbit.dir, "python-worker.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "celery", "-A", "oracle_app", "worker", "-Q", QUEUE,
             "-P", "solo", "-c", "1", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "-n", "oracle@%h", "-l", "info"],
            cwd=HERE, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline and "ready." not in self.text():
            time.sleep(0.2)
        return self

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*")
    parser.add_argument("--json")
    parser.add_argument("--wait", type=float, default=6.0, help="seconds to wait per case")
    opts = parser.parse_args()

    rabbit = testenv.RabbitServer().start()
    redis = testenv.RedisServer().start()
    rows = []
    try:
        pub = corpus_lib.RawPublisher(rabbit.url)
        corpus_lib.dead_letter_policy(rabbit, pub, "^oracle-", "oracle.dlx", "oracle.dead")
        worker = PythonWorker(rabbit, redis).start()
        r = redis_py.Redis.from_url(redis.url)
        for case in corpus_lib.load_cases(opts.cases):
            if case.needs_llm:
                continue
            built = case.build()
            dead_before = pub.ready("oracle.dead")
            log_before = len(worker.text())
            try:
                pub.publish(QUEUE, built)
            except Exception as e:  # noqa: BLE001 - RabbitMQ itself refused the message
                pub.reconnect()
                print(json.dumps({"case": case.name, "broker_refused": repr(e)}), flush=True)
                continue
            doc = None
            deadline = time.time() + opts.wait
            while time.time() < deadline:
                if built.result_id:
                    doc = corpus_lib.read_result(r, built.result_id)
                    if doc and doc.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
                        break
                if pub.ready("oracle.dead") > dead_before or not worker.alive():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            ready, unacked = rabbit.queue_counts(QUEUE)
            alive = worker.alive()
            serving = False
            if alive:
                probe = corpus_lib.load_cases(["id_not_uuid"])[0].build()
                pub.publish(QUEUE, probe)
                serving = bool(corpus_lib.wait_for(
                    lambda: corpus_lib.read_result(r, probe.result_id), 10))
            log = worker.text()[log_before:]
            notes = [line.strip()[:160] for line in log.splitlines()
                     if ("ERROR" in line or "CRITICAL" in line or "WARNING" in line)
                     and "Traceback" not in line][:2]
            result = doc.get("result") if doc else None
            row = {
                "case": case.name,
                "state": doc.get("status") if doc else None,
                "exc_type": result.get("exc_type") if isinstance(result, dict) else None,
                "message": corpus_lib.exception_text(result)[:120]
                if doc and doc.get("status") != "SUCCESS" else None,
                "result": str(result)[:60] if doc and doc.get("status") == "SUCCESS" else None,
                "queue": [ready, unacked],
                "dead_lettered": pub.ready("oracle.dead") - dead_before,
                "alive": alive,
                "serving": serving,
                "log": notes,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not alive or ready or unacked or not serving:
                # Clean up so the next case starts from an empty queue and a live worker.
                worker.stop()
                pub.purge(QUEUE)
                worker = PythonWorker(rabbit, redis).start()
        worker.stop()
        pub.close()
    finally:
        redis.cleanup()
        rabbit.cleanup()
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
