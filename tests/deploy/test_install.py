"""The install() rules: `cmake --install` of this build into a temp prefix gives
bin/celeriac and share/celeriac/{schemas,worker/tasks/prompts}; the installed binary
answers --help, starts with the Kubernetes config and the exact arguments of the
gpt5-analyzer Deployment (paths and port moved to the temp dir), and reads its data from
the prefix, not from the source tree it was built from."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import deploy_common as d

sys.path.insert(0, d.path("tests", "support"))
from loopback_ports import free_port  # noqa: E402  ports no parallel test takes meanwhile

READY = "LLM tasks registered"


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="celeriac-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        r = subprocess.run(["cmake", "--install", d.build_dir(), "--prefix", cls.prefix],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError("cmake --install failed: " + r.stdout + r.stderr)
        cls.binary = os.path.join(cls.prefix, "bin", "celeriac")
        cls.redis = None
        if shutil.which("redis-server"):
            cls.redis_port = free_port()
            cls.redis = subprocess.Popen(
                ["redis-server", "--port", str(cls.redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", cls.tmp],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        if cls.redis:
            cls.redis.kill()
            cls.redis.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layout(self):
        share = os.path.join(self.prefix, "share", "celeriac")
        self.assertTrue(os.access(self.binary, os.X_OK))
        want_schemas = sorted(f for f in os.listdir(d.path("schemas")) if f.endswith(".json"))
        self.assertEqual(sorted(os.listdir(os.path.join(share, "schemas"))), want_schemas)
        self.assertEqual(sorted(os.listdir(os.path.join(share, "worker", "tasks", "prompts"))),
                         sorted(os.listdir(d.path("worker", "tasks", "prompts"))))
        self.assertFalse(os.path.exists(os.path.join(share, "schemas", "fixtures")))

    def test_installed_binary_answers_help(self):
        r = subprocess.run([self.binary, "worker", "--help"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--llm-config", r.stdout)

    def start(self, args, env_extra=None, config_dir=None):
        env = {k: v for k, v in os.environ.items() if k != "CELERIAC_DATA_DIR"}
        # Nothing listens on the broker port: the worker starts, loads its config and
        # retries the broker; that is all these tests need.
        env["CELERY_BROKER_URL"] = "amqp://guest:guest@127.0.0.1:%d//" % free_port()
        if self.redis:
            env["CELERY_RESULT_BACKEND"] = "redis://127.0.0.1:%d/0" % self.redis_port
        env.update(d.read_env_file(os.path.join(d.K8S_OVERLAY, "llm-keys.env")))
        env.update(env_extra or {})
        log = tempfile.TemporaryFile(dir=self.tmp)
        proc = subprocess.Popen([self.binary, "worker", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=config_dir or self.tmp)
        return proc, log

    def wait_for(self, proc, log, needle, timeout=30):
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            log.seek(0)
            text = log.read().decode(errors="replace")
            if needle in text or proc.poll() is not None:
                break
            time.sleep(0.1)
        log.seek(0)
        return log.read().decode(errors="replace")

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def k8s_args(self, config_dir, port):
        deps = d.by_kind(d.base_resources(), "Deployment")
        args = list(deps["gpt5-analyzer"]["spec"]["template"]["spec"]["containers"][0]["args"])
        args = [a.replace("/etc/celeriac", config_dir) for a in args]
        args[args.index("--http-port") + 1] = str(port)
        args[args.index("--http-bind") + 1] = "127.0.0.1"
        return args

    def test_starts_with_the_deployments_arguments_and_config(self):
        config_dir = os.path.join(d.K8S_BASE, "config")
        proc, log = self.start(self.k8s_args(config_dir, free_port()))
        try:
            out = self.wait_for(proc, log, READY)
            self.assertIsNone(proc.poll(), "exited %s:\n%s" % (proc.returncode, out))
            self.assertIn(READY, out)
        finally:
            self.stop(proc)
            log.close()

    def test_reads_schemas_and_prompts_from_the_prefix(self):
        config_dir = os.path.join(d.K8S_BASE, "config")
        args = ["--llm-config", os.path.join(config_dir, "balancer.yaml"),
                "--tasks-config", os.path.join(config_dir, "tasks.yaml")]
        proc, log = self.start(args)
        try:
            out = self.wait_for(proc, log, READY)
            self.assertIn(READY, out)
        finally:
            self.stop(proc)
            log.close()
        # A second prefix without one prompt: if the binary fell back to the source tree
        # it would still start.
        broken = os.path.join(self.tmp, "broken")
        shutil.copytree(self.prefix, broken, symlinks=True)
        os.remove(os.path.join(broken, "share", "celeriac", "worker", "tasks", "prompts",
                               "analyze_system.txt"))
        saved, self.binary = self.binary, os.path.join(broken, "bin", "celeriac")
        try:
            proc, log = self.start(args)
            out = self.wait_for(proc, log, READY, timeout=30)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.assertNotIn(READY, out)
            self.assertEqual(proc.returncode, 2, out)
            self.assertIn("analyze_system.txt", out)
        finally:
            self.stop(proc)
            log.close()
            self.binary = saved


if __name__ == "__main__":
    unittest.main()
