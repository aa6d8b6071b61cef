"""Alert rules (deploy/prometheus): promtool checks them and runs one unit-test file per
alert; the Kubernetes PrometheusRule is the same rules; every metric that the rules and
the Grafana dashboard query is listed in metric_names.txt (which a live-scrape test
checks against a running worker)."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import deploy_common as d

RULES = os.path.join(d.PROM, "celeriac-rules.yml")
PROMTOOL = shutil.which("promtool")
METRIC = re.compile(r"\b((?:celeriac|celery|rabbitmq)_[a-z0-9_]+)")


def listed_metrics():
    out = {}
    for line in d.read(os.path.join(d.PROM, "metric_names.txt")).splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            name, kind, source = line
            out[name] = (kind, source)
    return out


def family(name, listed):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and listed.get(base, ("",))[0] == "histogram":
            return base
    return name


def rule_exprs():
    doc = d.load_yaml_docs(RULES)[0]
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboard_exprs():
    dash = json.loads(d.read(d.path("deploy", "grafana", "celeriac.json")))
    exprs = []
    for p in dash["panels"]:
        exprs += [t["expr"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return exprs


@unittest.skipUnless(PROMTOOL, "promtool missing (apt-get install prometheus)")
class PromtoolTest(unittest.TestCase):
    def run_promtool(self, *args):
        r = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=d.PROM,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout + r.stderr

    def test_check_rules(self):
        out = self.run_promtool("check", "rules", RULES)
        self.assertIn("SUCCESS: 6 rules found", out)

    def test_unit_tests_one_per_alert(self):
        tests = sorted(glob.glob(os.path.join(d.PROM, "tests", "*.yml")))
        tested = {}
        for t in tests:
            doc = d.load_yaml_docs(t)[0]
            names = {a["alertname"] for case in doc["tests"] for a in case["alert_rule_test"]}
            self.assertEqual(len(names), 1, t)
            # Each file shows the alert both quiet and firing.
            exp = [a["exp_alerts"] for case in doc["tests"] for a in case["alert_rule_test"]]
            self.assertIn([], exp, t)
            self.assertTrue(any(exp), t)
            tested[names.pop()] = t
        self.assertEqual(set(tested), set(rule_exprs()))
        out = self.run_promtool("test", "rules", *tests)
        self.assertEqual(out.count("SUCCESS"), len(tests), out)

    def test_compose_prometheus_config(self):
        # The compose file mounts the rules beside prometheus.yml; check both together.
        tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "celeriac-deploy-promcfg-%d" % os.getpid())
        os.makedirs(tmp, exist_ok=True)
        try:
            with open(d.path("deploy", "compose", "prometheus.yml")) as f:
                cfg = f.read().replace("/etc/prometheus/celeriac-rules.yml", RULES)
            p = os.path.join(tmp, "prometheus.yml")
            with open(p, "w") as f:
                f.write(cfg)
            self.run_promtool("check", "config", p)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class PrometheusRuleTest(unittest.TestCase):
    def test_prometheusrule_wraps_the_same_rules(self):
        plain = d.load_yaml_docs(RULES)[0]
        (pr,) = d.load_yaml_docs(os.path.join(d.K8S_BASE, "prometheusrule.yaml"))
        self.assertEqual(pr["kind"], "PrometheusRule")
        self.assertEqual(pr["metadata"]["namespace"], "workers")
        self.assertEqual(pr["spec"]["groups"], plain["groups"],
                         "re-run deploy/prometheus/make_prometheusrule.py")

    def test_generator_output_is_what_is_committed(self):
        sys.path.insert(0, d.PROM)
        try:
            import make_prometheusrule
        finally:
            sys.path.pop(0)
        committed = d.read(os.path.join(d.K8S_BASE, "prometheusrule.yaml"))
        self.assertEqual(make_prometheusrule.render(), committed)


class MetricNamesTest(unittest.TestCase):
    def test_every_queried_metric_is_listed_and_every_listed_one_used(self):
        listed = listed_metrics()
        used = {}
        for where, exprs in (("rules", rule_exprs().values()), ("dashboard", dashboard_exprs())):
            for e in exprs:
                for m in METRIC.findall(e):
                    used.setdefault(family(m, listed), set()).add(where)
        self.assertEqual(sorted(set(used) - set(listed)), [], "queried but not listed")
        self.assertEqual(sorted(set(listed) - set(used)), [], "listed but never queried")

    def test_histograms_are_queried_by_bucket_and_counters_by_rate(self):
        listed = listed_metrics()
        for e in list(rule_exprs().values()) + dashboard_exprs():
            if e.startswith("label_values("):
                continue
            for m in METRIC.findall(e):
                kind = listed.get(family(m, listed), ("?",))[0]
                with self.subTest(metric=m):
                    if kind == "histogram":
                        self.assertTrue(m.endswith("_bucket"), m)
                    if kind == "counter":
                        self.assertRegex(e, r"(rate|increase)\(%s[{\[]" % m)

    def test_the_issues_metric_names(self):
        listed = listed_metrics()
        for name in ("celery_task_received_total", "celery_task_succeeded_total",
                     "celery_task_failed_total", "celery_task_runtime_seconds",
                     "celery_worker_up", "celery_worker_tasks_active",
                     "celeriac_llm_requests_total", "celeriac_llm_request_duration_seconds",
                     "celeriac_llm_breaker_state", "celeriac_tasks_parked_total",
                     "celeriac_key_set_shared", "rabbitmq_queue_messages_ready"):
            self.assertIn(name, listed)
        self.assertEqual(listed["rabbitmq_queue_messages_ready"][1], "rabbitmq")


class DashboardTest(unittest.TestCase):
    def test_the_panels_the_issue_asks_for(self):
        dash = json.loads(d.read(d.path("deploy", "grafana", "celeriac.json")))
        titles = [p["title"].lower() for p in dash["panels"]]
        for want in ("throughput", "runtime percentiles", "failures by class", "cost per model",
                     "breaker", "bucket", "parked", "in flight"):
            self.assertTrue(any(want in t for t in titles), want)
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        for p in dash["panels"]:
            if p["type"] != "row":
                self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
                self.assertTrue(p["targets"], p["title"])


if __name__ == "__main__":
    unittest.main()
