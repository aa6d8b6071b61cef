"""deploy/local/fleet.sh: parses, answers --help, and (when this build has the HTTP port
and Debian's prometheus is installed) really runs: two replicas answer /healthz and
/metrics, Prometheus scrapes both, and Ctrl-C (SIGINT) stops every process it started
and removes its directory."""

import gc
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.request

import deploy_common as d

FLEET = d.path("deploy", "local", "fleet.sh")


def get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode(errors="replace")


def leftovers(pgid, text):
    """Processes in process group `pgid` or whose command line mentions `text`."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        group = int(stat.rsplit(")", 1)[1].split()[2])
        if group == pgid or text.encode() in cmdline:
            out.append(int(pid))
    return out


class FleetScriptTest(unittest.TestCase):
    def test_bash_parses_it(self):
        r = subprocess.run(["bash", "-n", FLEET], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_help(self):
        r = subprocess.run(["bash", FLEET, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--replicas", r.stdout)

    def test_unknown_option_is_refused(self):
        r = subprocess.run(["bash", FLEET, "--bogus"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)


@unittest.skipUnless(shutil.which("prometheus") and os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"),
                     "needs prometheus and rabbitmq-server")
class FleetRunTest(unittest.TestCase):
    def test_two_replicas_scraped_then_everything_stopped(self):
        if "--http-port" not in d.worker_options():
            self.fail("this build has no --http-port: rebuild celeriac")
        env = dict(os.environ, CELERIAC_BIN=d.celeriac_bin(), LLM_STUB_BIN=d.stub_bin())
        proc = subprocess.Popen(["bash", FLEET, "-n", "2"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines = []
        try:
            deadline = time.time() + 180
            while time.time() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if "Ctrl-C stops everything" in line:
                    break
            out = "".join(lines)
            self.assertIn("celeriac fleet up (2 replicas, 2 key sets)", out)
            run_dir = re.search(r"key sets\), in (\S+):", out).group(1)
            metrics = re.findall(r"(http://127\.0\.0\.1:\d+)/metrics", out)
            prom = re.search(r"prometheus\s+(http://\S+)", out).group(1)
            self.assertEqual(len(metrics), 2)
            for base in metrics:
                deadline = time.time() + 60
                while True:
                    try:
                        status, _ = get(base + "/healthz")
                        break
                    except OSError:
                        if time.time() > deadline:
                            raise
                        time.sleep(0.5)
                self.assertEqual(status, 200)
                status, body = get(base + "/metrics")
                self.assertIn("celery_worker_up", body)
            deadline = time.time() + 60
            up = []
            while time.time() < deadline:
                _, body = get(prom + "/api/v1/targets")
                up = [t for t in json.loads(body)["data"]["activeTargets"]
                      if t["labels"]["job"] == "celeriac" and t["health"] == "up"]
                if len(up) == 2:
                    break
                time.sleep(1)
            self.assertEqual(len(up), 2, body)
            broker = re.search(r"broker\s+(amqp://\S+)", out).group(1)
            backend = re.search(r"backend\s+(redis://\S+)", out).group(1)
            self.run_tasks(broker, backend)
            self.check_metrics_in_prometheus(prom)
            self.check_key_sets(run_dir)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal
            rest, _ = proc.communicate(timeout=120)
        self.assertFalse(os.path.exists(run_dir), rest)
        deadline = time.time() + 30
        while leftovers(proc.pid, run_dir) and time.time() < deadline:
            time.sleep(0.5)
        self.assertEqual(leftovers(proc.pid, run_dir), [], rest)


    def run_tasks(self, broker, backend):
        from celery import Celery  # Debian's python3-celery
        app = Celery(broker=broker, backend=backend)
        try:
            analysis = app.send_task(
                "gpt5_analyzer.analyze", queue="gpt5-analyzer",
                kwargs={"image": "https://example.com/photo.jpg", "user_id": "u-1"}).get(timeout=90)
            answer = app.send_task("response_generator.generate", args=[analysis],
                                   kwargs={"rules": {"glass": "rinse, then the glass bin"}},
                                   queue="response-generator").get(timeout=90)
            self.assertIn("answer", answer)
            # A failure, so celery_task_failed_total{exception} has a series.
            with self.assertRaises(ValueError):
                app.send_task("celeriac.fail", args=["on purpose", "ValueError"],
                              queue="response-generator").get(timeout=90)
        finally:
            gc.collect()  # AsyncResult.__del__ talks to Redis: let it run while Redis is up
            app.close()

    def check_metrics_in_prometheus(self, prom):
        """Every metric the rules and the dashboard query (metric_names.txt) is in what
        Prometheus scraped from the replicas and RabbitMQ, and the tasks just run are
        counted under celery-exporter's name."""
        listed = {}
        for line in d.read(d.path("deploy", "prometheus", "metric_names.txt")).splitlines():
            f = line.split("#", 1)[0].split()
            if f:
                listed[f[0]] = f[1]
        want = {n + "_bucket" if kind == "histogram" else n for n, kind in listed.items()}
        deadline = time.time() + 90
        missing = want
        while time.time() < deadline:
            _, body = get(prom + "/api/v1/label/__name__/values")
            missing = want - set(json.loads(body)["data"])
            if not missing:
                break
            time.sleep(2)
        self.assertEqual(missing, set(), "listed in metric_names.txt, absent from the scrape")
        query = urllib.request.quote('sum by (name) (celery_task_succeeded_total)')
        _, body = get(prom + "/api/v1/query?query=" + query)
        done = {r["metric"]["name"]: float(r["value"][1]) for r in json.loads(body)["data"]["result"]}
        self.assertGreaterEqual(done.get("gpt5_analyzer.analyze", 0), 1, done)
        self.assertGreaterEqual(done.get("response_generator.generate", 0), 1, done)
        # Every LLM attempt observed the balancer's overhead once: the histogram counts
        # exactly the attempts (two tasks, at least two attempts).
        def instant(expr):
            _, body = get(prom + "/api/v1/query?query=" + urllib.request.quote(expr))
            result = json.loads(body)["data"]["result"]
            return float(result[0]["value"][1]) if result else None
        deadline = time.time() + 60
        while (instant("sum(celeriac_llm_balancer_overhead_seconds_count)") or 0) < 2:
            self.assertLess(time.time(), deadline, "no overhead observed for the LLM calls")
            time.sleep(1)
        self.assertEqual(instant("sum(celeriac_llm_balancer_overhead_seconds_count)"
                                 " - sum(celeriac_llm_requests_total)"), 0.0)

    def check_key_sets(self, run_dir):
        """Two replicas, two key sets in the one config: each took its own."""
        taken = []
        for r in (1, 2):
            log = d.read(os.path.join(run_dir, "replica-%d.log" % r))
            m = re.search(r"key set (stub-\d+)", log)
            self.assertTrue(m, log[-2000:])
            taken.append(m.group(1))
        self.assertEqual(sorted(taken), ["stub-0", "stub-1"])


if __name__ == "__main__":
    unittest.main()
