"""deploy/local/fleet.sh: parses, answers --help, and (when this build has the HTTP port
and Debian's prometheus is installed) really runs: two replicas answer /healthz and
/metrics, Prometheus scrapes both, and Ctrl-C (SIGINT) stops every process it started
and removes its directory."""

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
            self.fail("this build has no --http-port: rebuild celeriac (the HTTP port is part of issue 11)")
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
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal
            rest, _ = proc.communicate(timeout=120)
        self.assertFalse(os.path.exists(run_dir), rest)
        deadline = time.time() + 30
        while leftovers(proc.pid, run_dir) and time.time() < deadline:
            time.sleep(0.5)
        self.assertEqual(leftovers(proc.pid, run_dir), [], rest)


if __name__ == "__main__":
    unittest.main()
