"""End-to-end observability: the worker's one HTTP port.

A live scrape of a running worker passes Debian's `promtool check metrics`; Debian's
`prometheus` server scrapes the worker and its query API returns the tasks just run;
/readyz follows Redis (503 within 5 s of stopping it, 200 after it returns); /healthz
stays 200 through a RabbitMQ restart (a broker outage must never restart pods).
Every wait is bounded by a deadline.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import json

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import testenv  # noqa: E402
from test_worker_e2e import SharedServers, unique_queue  # noqa: E402


def http_get(url, timeout=5):
    """(status, body) of a GET; (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def wait_for(predicate, timeout, interval=0.1):
    """Polls `predicate` until it returns a true value or `timeout` passes; returns the
    last value."""
    deadline = time.time() + timeout
    value = predicate()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def sample_value(text, name, labels):
    """The value of the sample `name{labels...}` in a text exposition, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all('%s="%s"' % kv in head for kv in labels.items()):
            return float(value)
    return None


class ObservabilityServers(SharedServers):
    def start_http_worker(self, queue, extra=()):
        port = testenv.free_port()
        w = self.start_worker(queue, extra=["--http-port", str(port), "--http-bind", "127.0.0.1"]
                              + list(extra))
        base = "http://127.0.0.1:%d" % port
        self.assertTrue(wait_for(lambda: http_get(base + "/healthz")[0] == 200, 15),
                        w.log_text())
        return w, base

    def run_tasks(self, queue, ok=3, failing=1):
        app = self.app()
        for i in range(ok):
            self.assertEqual(app.send_task("celeriac.echo", args=[i], queue=queue).get(timeout=15), i)
        for _ in range(failing):
            with self.assertRaises(ValueError):
                app.send_task("celeriac.fail", args=["boom", "ValueError"], queue=queue).get(
                    timeout=15)


class Observability(ObservabilityServers):
    """One RabbitMQ and one Redis for all four (each start of RabbitMQ costs seconds)."""

    def test_a_live_scrape_counts_the_tasks_and_passes_promtool(self):
        q = unique_queue()
        _, base = self.start_http_worker(q)
        self.run_tasks(q, ok=3, failing=1)
        labels = {"name": "celeriac.echo", "queue_name": q}

        def scraped():
            status, text = http_get(base + "/metrics")
            if status == 200 and sample_value(text, "celery_task_succeeded_total", labels) == 3:
                return text
            return None
        text = wait_for(scraped, 10)
        self.assertTrue(text, http_get(base + "/metrics")[1])
        self.assertEqual(sample_value(text, "celery_task_received_total", labels), 3)
        self.assertEqual(sample_value(text, "celery_task_failed_total",
                                      {"name": "celeriac.fail", "exception": "ValueError",
                                       "queue_name": q}), 1)
        self.assertEqual(sample_value(text, "celery_task_runtime_seconds_count", labels), 3)
        for family in ("celery_worker_up", "celery_worker_tasks_active", "celeriac_prefetch",
                       "celeriac_tasks_in_flight", "celeriac_tasks_parked_total"):
            self.assertIn("# TYPE %s " % family, text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_debians_prometheus_scrapes_the_worker_and_returns_the_tasks_just_run(self):
        q = unique_queue()
        w, base = self.start_http_worker(q)
        self.run_tasks(q, ok=2, failing=0)
        tmp = tempfile.mkdtemp(prefix="celeriac-prometheus-")
        self.addCleanup(shutil.rmtree, tmp, True)
        target = base[len("http://"):]
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: celeriac\n    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        port = testenv.free_port()
        with open(os.path.join(tmp, "prometheus.log"), "wb") as log:
            prom = subprocess.Popen(
                ["prometheus", "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                 "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                 "--web.listen-address=127.0.0.1:%d" % port],
                stdout=log, stderr=log)

        def stop_prometheus():
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait(timeout=10)
        self.addCleanup(stop_prometheus)
        query = urllib.parse.quote('celery_task_succeeded_total{queue_name="%s"}' % q)
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, query)

        def answered():
            status, body = http_get(url)
            if status != 200:
                return None
            result = json.loads(body)["data"]["result"]
            return result if result and float(result[0]["value"][1]) == 2 else None
        result = wait_for(answered, 40, interval=0.5)
        with open(os.path.join(tmp, "prometheus.log"), errors="replace") as f:
            prom_log = f.read()[-3000:]
        self.assertTrue(result, "no answer from Prometheus:\n" + prom_log + "\n" + w.log_text())
        self.assertEqual(result[0]["metric"]["name"], "celeriac.echo")
        self.assertEqual(result[0]["metric"]["job"], "celeriac")

    def test_readyz_fails_within_5s_of_stopping_redis_and_recovers_after(self):
        q = unique_queue()
        w, base = self.start_http_worker(q)
        self.addCleanup(self.redis.ensure_running)
        self.assertTrue(wait_for(lambda: http_get(base + "/readyz")[0] == 200, 15), w.log_text())
        self.redis.stop()
        stopped = time.time()
        self.assertTrue(wait_for(lambda: http_get(base + "/readyz")[0] == 503, 5),
                        http_get(base + "/readyz"))
        self.assertLess(time.time() - stopped, 5.0)
        status, body = http_get(base + "/readyz")
        self.assertIn("Redis", body)
        self.assertEqual(http_get(base + "/healthz")[0], 200)  # liveness ignores Redis
        self.redis.start()
        self.assertTrue(wait_for(lambda: http_get(base + "/readyz")[0] == 200, 30),
                        http_get(base + "/readyz"))

    def test_healthz_stays_200_through_a_rabbitmq_restart(self):
        q = unique_queue()
        w, base = self.start_http_worker(q)
        self.assertTrue(wait_for(lambda: http_get(base + "/readyz")[0] == 200, 15), w.log_text())
        seen = []
        stop = threading.Event()

        def probe():
            while not stop.is_set():
                seen.append(http_get(base + "/healthz", timeout=2)[0])
                stop.wait(0.2)
        t = threading.Thread(target=probe)
        t.start()
        try:
            self.rabbit.stop()
            self.assertTrue(wait_for(lambda: http_get(base + "/readyz")[0] == 503, 10),
                            "readyz stayed ready without a broker")
            self.rabbit.start()
            self.assertTrue(wait_for(lambda: http_get(base + "/readyz")[0] == 200, 60),
                            w.log_text()[-3000:])
        finally:
            stop.set()
            t.join(timeout=10)
        self.assertGreater(len(seen), 10)
        self.assertEqual(set(seen), {200}, seen)


if __name__ == "__main__":
    unittest.main()
