"""README's "Deploy and scale" section says only what the files do: every path exists,
every number is the manifests' own, the alert table is the rules (names and `for`)."""

import os
import re
import unittest

import deploy_common as d


def section():
    text = d.read(d.path("README.md"))
    m = re.search(r"^### Deploy and scale\n(.*?)^## ", text, re.S | re.M)
    assert m, "README has no '### Deploy and scale' section before the next '## '"
    return m.group(1)


def arg(args, flag):
    return args[args.index(flag) + 1]


class ReadmeDeployTest(unittest.TestCase):
    def setUp(self):
        self.text = " ".join(section().split())  # sentences across line breaks
        self.docs = d.base_resources()
        self.deps = d.by_kind(self.docs, "Deployment")
        self.scaled = d.by_kind(self.docs, "ScaledObject")

    def test_section_comes_right_before_performance(self):
        text = d.read(d.path("README.md"))
        start = text.index("\n### Deploy and scale\n")
        between = text[start + 1:text.index("\n## Performance\n")]
        self.assertNotIn("\n## ", between)
        self.assertNotIn("\n### ", between)

    def test_paths_exist(self):
        paths = re.findall(r"`((?:deploy|tests)/[^` ]+)", self.text)
        paths += re.findall(r"\s((?:deploy)/[\w./-]+)", self.text)
        self.assertGreater(len(paths), 5)
        for p in paths:
            with self.subTest(path=p):
                self.assertTrue(os.path.exists(d.path(p.rstrip(".,:"))))

    def test_numbers_are_the_manifests(self):
        t = self.text
        for name, dep in self.deps.items():
            c = dep["spec"]["template"]["spec"]["containers"][0]
            self.assertIn("`%s` (%d replicas)" % (name, dep["spec"]["replicas"]), t)
            self.assertIn("requesting %s CPU and %s" % (c["resources"]["requests"]["cpu"],
                                                       c["resources"]["requests"]["memory"]), t)
            self.assertIn("`workload=%s`" % dep["spec"]["template"]["spec"]["nodeSelector"]["workload"], t)
            self.assertIn("A pod gets %d s to stop" % dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], t)
            self.assertIn("`--shutdown-grace %s`" % arg(c["args"], "--shutdown-grace"), t)
            self.assertIn("`-c %s`" % arg(c["args"], "-c"), t)
            self.assertIn("`--prefetch-multiplier %s`" % arg(c["args"], "--prefetch-multiplier"), t)
            self.assertIn("port %s" % arg(c["args"], "--http-port"), t)
        self.assertIn("up to %d gpt5-analyzer and %d response-generator replicas"
                      % (self.scaled["gpt5-analyzer"]["spec"]["maxReplicaCount"],
                         self.scaled["response-generator"]["spec"]["maxReplicaCount"]), t)
        value = {so["spec"]["triggers"][0]["metadata"]["value"] for so in self.scaled.values()}
        self.assertEqual(value, {"100"})
        self.assertIn("a replica per 100 messages", t)
        self.assertIn("`protocol: http`", t)
        tasks = d.load_yaml_docs(os.path.join(d.K8S_BASE, "config", "tasks.yaml"))[0]
        self.assertIn("at the %d s deadline" % max(v["timeout_s"] for v in tasks["tasks"].values()), t)

    def test_keys(self):
        balancer = d.load_yaml_docs(os.path.join(d.K8S_BASE, "config", "balancer.yaml"))[0]
        n = len(balancer["key_sets"])
        self.assertIn("The %d sets" % n, self.text)
        self.assertIn("`OPENAI_API_KEY_0` to `OPENAI_API_KEY_%d`" % (n - 1), self.text)
        envs = [k["env"] for s in balancer["key_sets"] for k in s["keys"]]
        self.assertEqual(envs, ["OPENAI_API_KEY_%d" % i for i in range(n)])
        self.assertIn("Secret `celeriac-llm-keys`", self.text)
        for dep in self.deps.values():
            c = dep["spec"]["template"]["spec"]["containers"][0]
            self.assertIn({"secretRef": {"name": "celeriac-llm-keys"}}, c["envFrom"])

    def test_alert_table_is_the_rules(self):
        rules = {r["alert"]: r for g in d.load_yaml_docs(os.path.join(d.PROM, "celeriac-rules.yml"))[0]["groups"]
                 for r in g["rules"]}
        rows = dict(re.findall(r"^\| `(\w+)` \| (.*?) \|$", section(), re.M))
        self.assertEqual(set(rows), set(rules))
        for name, row in rows.items():
            with self.subTest(alert=name):
                for_ = rules[name].get("for")
                if for_:
                    minutes = int(for_.rstrip("m"))
                    self.assertIn("for %d minute" % minutes, row)
        self.assertIn("over 5 s", rows["CeleriacLlmSlowCalls"])
        self.assertIn("> 5", rules["CeleriacLlmSlowCalls"]["expr"])
        self.assertIn("over 5 %", rows["CeleriacLlmErrorRate"])
        self.assertIn("> 0.05", rules["CeleriacLlmErrorRate"]["expr"])
        self.assertIn("at least 20 calls", rows["CeleriacLlmErrorRate"])
        self.assertIn(">= 20", rules["CeleriacLlmErrorRate"]["expr"])
        self.assertIn("[5m]", rules["CeleriacLlmBreakerOpen"]["expr"])

    def test_compose_and_fleet_as_described(self):
        compose = d.load_yaml_docs(d.path("deploy", "compose", "compose.yaml"))[0]
        self.assertEqual(sum(1 for s in compose["services"] if s.startswith("worker")), 2)
        self.assertIn("`deploy/local/fleet.sh -n 3`", self.text)
        self.assertIn("replicas=3", d.read(d.path("deploy", "local", "fleet.sh")))


if __name__ == "__main__":
    unittest.main()
