"""Kubernetes manifests (deploy/k8s), compose (deploy/compose) and the dashboard parse,
have the platform's fields (namespace `workers`, gpt5-analyzer x5 and response-generator x3,
100m CPU / 256Mi each, nodes labelled workload=async-workers), and pass celeriac only
flags and environment variables that this build accepts."""

import json
import os
import re
import shutil
import unittest

import deploy_common as d

SEED_POOLS = {"gpt5-analyzer": 5, "response-generator": 3}


def container(dep):
    cs = dep["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1, "one container per pod"
    return cs[0]


def arg_value(args, flag):
    return args[args.index(flag) + 1] if flag in args else None


class ParseTest(unittest.TestCase):
    def test_every_yaml_and_json_file_parses(self):
        files = d.yaml_files()
        self.assertGreater(len(files), 10)
        for p in files:
            with self.subTest(file=os.path.relpath(p, d.ROOT)):
                self.assertTrue(d.load_yaml_docs(p), "empty document")
        for p in d.json_files():
            with self.subTest(file=os.path.relpath(p, d.ROOT)):
                with open(p) as f:
                    json.load(f)

    def test_every_base_object_is_in_namespace_workers(self):
        for doc in d.base_resources():
            with self.subTest(kind=doc["kind"], name=doc["metadata"]["name"]):
                if doc["kind"] == "Namespace":
                    self.assertEqual(doc["metadata"]["name"], "workers")
                else:
                    self.assertEqual(doc["metadata"].get("namespace"), "workers")


class DeploymentTest(unittest.TestCase):
    def setUp(self):
        self.docs = d.base_resources()
        self.deployments = d.by_kind(self.docs, "Deployment")

    def test_the_two_pools_with_the_seed_replicas_and_queues(self):
        self.assertEqual(set(self.deployments), set(SEED_POOLS))
        for name, replicas in SEED_POOLS.items():
            with self.subTest(name=name):
                dep = self.deployments[name]
                self.assertEqual(dep["spec"]["replicas"], replicas)
                self.assertEqual(arg_value(container(dep)["args"], "-Q"), name)

    def test_resources_node_selector_and_non_root(self):
        for name, dep in self.deployments.items():
            with self.subTest(name=name):
                pod = dep["spec"]["template"]["spec"]
                self.assertEqual(pod["nodeSelector"], {"workload": "async-workers"})
                self.assertEqual(container(dep)["resources"]["requests"],
                                 {"cpu": "100m", "memory": "256Mi"})
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)

    def test_probes_on_the_metrics_port(self):
        for name, dep in self.deployments.items():
            with self.subTest(name=name):
                c = container(dep)
                self.assertIn({"name": "metrics", "containerPort": 9808, "protocol": "TCP"},
                              c["ports"])
                self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"})
                self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "metrics"})
                self.assertEqual(arg_value(c["args"], "--http-port"), "9808")
                # Probes come from the kubelet, not from inside the pod.
                self.assertEqual(arg_value(c["args"], "--http-bind"), "0.0.0.0")

    def test_grace_period_covers_shutdown_grace_which_covers_two_llm_calls(self):
        tasks = d.load_yaml_docs(os.path.join(d.K8S_BASE, "config", "tasks.yaml"))[0]
        balancer = d.load_yaml_docs(os.path.join(d.K8S_BASE, "config", "balancer.yaml"))[0]
        longest_call = max([balancer["timeout"]] +
                           [t.get("timeout_s", 0) for t in tasks["tasks"].values()])
        for name, dep in self.deployments.items():
            with self.subTest(name=name):
                grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                shutdown_grace = int(arg_value(container(dep)["args"], "--shutdown-grace"))
                self.assertGreater(grace, shutdown_grace)
                # A task makes at most two calls: the answer and one repair.
                self.assertGreaterEqual(shutdown_grace, 2 * longest_call)

    def test_config_is_mounted_and_passed(self):
        kust = d.load_yaml_docs(os.path.join(d.K8S_BASE, "kustomization.yaml"))[0]
        files = {os.path.basename(f) for g in kust["configMapGenerator"] for f in g["files"]}
        for name, dep in self.deployments.items():
            with self.subTest(name=name):
                c = container(dep)
                mount = c["volumeMounts"][0]["mountPath"]
                self.assertEqual(arg_value(c["args"], "--llm-config"), mount + "/balancer.yaml")
                self.assertEqual(arg_value(c["args"], "--tasks-config"), mount + "/tasks.yaml")
                self.assertLessEqual({"balancer.yaml", "tasks.yaml"}, files)
                self.assertEqual(arg_value(c["args"], "--log-format"), "json")

    def test_both_pools_are_the_same_but_for_name_and_size(self):
        a, b = (json.dumps(self.deployments[n], sort_keys=True) for n in SEED_POOLS)
        b = b.replace("response-generator", "gpt5-analyzer")
        self.assertEqual(json.loads(a)["spec"]["template"], json.loads(b)["spec"]["template"])


class ArgsAndEnvAcceptedTest(unittest.TestCase):
    """Every flag and environment variable our files give celeriac is one it accepts."""

    def balancer_refs(self, *configs):
        refs = set()
        for c in configs:
            refs |= d.config_env_refs(c)
        return refs

    def test_kubernetes_args_and_env(self):
        refs = self.balancer_refs(os.path.join(d.K8S_BASE, "config", "balancer.yaml"))
        for name, dep in d.by_kind(d.base_resources(), "Deployment").items():
            c = container(dep)
            with self.subTest(name=name, what="args"):
                self.assertEqual(d.check_worker_args(c["args"]), [])
            for e in c["env"]:
                with self.subTest(name=name, env=e["name"]):
                    self.assertTrue(d.env_accepted(e["name"], refs), e["name"])
        overlay = d.K8S_OVERLAY
        for env_file in ("broker.env", "llm-keys.env"):
            for key in d.read_env_file(os.path.join(overlay, env_file)):
                with self.subTest(file=env_file, env=key):
                    self.assertTrue(d.env_accepted(key, refs), key)

    def test_every_key_the_balancer_config_names_is_in_the_secret(self):
        refs = self.balancer_refs(os.path.join(d.K8S_BASE, "config", "balancer.yaml"))
        secret = d.read_env_file(os.path.join(d.K8S_OVERLAY, "llm-keys.env"))
        self.assertEqual(refs, set(secret))

    def test_compose_commands_and_env(self):
        compose = d.load_yaml_docs(d.path("deploy", "compose", "compose.yaml"))[0]
        refs = self.balancer_refs(d.path("deploy", "compose", "fleet-balancer.yaml"))
        workers = {n: s for n, s in compose["services"].items() if n.startswith("worker")}
        self.assertEqual(len(workers), 2)
        for name, svc in workers.items():
            with self.subTest(service=name):
                self.assertEqual(d.check_worker_args(svc["command"]), [])
                self.assertEqual(arg_value(svc["command"], "--log-format"), "json")
                for key in svc["environment"]:
                    self.assertTrue(d.env_accepted(key, refs), key)
                self.assertEqual(svc["build"]["target"], "runtime")
        self.assertLessEqual({"rabbitmq", "redis", "llm-stub", "prometheus"},
                             set(compose["services"]))
        self.assertIn("management", compose["services"]["rabbitmq"]["image"])
        self.assertEqual(compose["services"]["llm-stub"]["build"]["target"], "llm-stub")

    def test_compose_prometheus_scrapes_both_workers_and_rabbitmq_per_queue(self):
        prom = d.load_yaml_docs(d.path("deploy", "compose", "prometheus.yml"))[0]
        targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"]
                   for t in sc["targets"]]
        self.assertIn("worker-1:9808", targets)
        self.assertIn("worker-2:9808", targets)
        self.assertIn("rabbitmq:15692", targets)
        compose = d.load_yaml_docs(d.path("deploy", "compose", "compose.yaml"))[0]
        mounts = compose["services"]["rabbitmq"]["volumes"]
        self.assertIn("./rabbitmq.conf:/etc/rabbitmq/conf.d/20-celeriac.conf:ro", mounts)
        conf = d.read(d.path("deploy", "compose", "rabbitmq.conf"))
        self.assertIn("prometheus.return_per_object_metrics = true", conf)
        # fleet.sh, which the run test exercises, sets the same.
        self.assertIn("prometheus.return_per_object_metrics = true",
                      d.read(d.path("deploy", "local", "fleet.sh")))

    def test_dockerfile_cmd(self):
        runtime = [s for s in d.dockerfile_stages() if s["name"] == "runtime"][0]
        cmd = [d.exec_form(a) for i, a in runtime["instructions"] if i == "CMD"][0]
        self.assertEqual(d.check_worker_args(cmd), [])

    def test_fleet_sh_worker_flags(self):
        text = d.read(d.path("deploy", "local", "fleet.sh"))
        line = re.search(r'"\$celeriac" worker (.*?)>', text, re.S).group(1)
        args = [a for a in line.replace("\\\n", " ").split() if not a.startswith('"$')]
        flags = [a for a in args if a.startswith("-")]
        self.assertIn("--http-port", flags)
        self.assertEqual([f for f in flags if f not in d.worker_options()], [])


class KedaTest(unittest.TestCase):
    def test_a_scaled_object_per_queue_in_http_mode(self):
        docs = d.base_resources()
        scaled = d.by_kind(docs, "ScaledObject")
        auth = d.by_kind(docs, "TriggerAuthentication")
        self.assertEqual(set(scaled), set(SEED_POOLS))
        for name, so in scaled.items():
            with self.subTest(name=name):
                self.assertEqual(so["spec"]["scaleTargetRef"]["name"], name)
                self.assertEqual(so["spec"]["minReplicaCount"], SEED_POOLS[name])
                (trigger,) = so["spec"]["triggers"]
                self.assertEqual(trigger["type"], "rabbitmq")
                # http counts unacked (prefetched) messages too; amqp would not.
                self.assertEqual(trigger["metadata"]["protocol"], "http")
                self.assertEqual(trigger["metadata"]["queueName"], name)
                self.assertIn(trigger["authenticationRef"]["name"], auth)

    def test_value_matches_concurrency_with_prefetch_one(self):
        deps = d.by_kind(d.base_resources(), "Deployment")
        for name, so in d.by_kind(d.base_resources(), "ScaledObject").items():
            with self.subTest(name=name):
                args = container(deps[name])["args"]
                self.assertEqual(arg_value(args, "--prefetch-multiplier"), "1")
                self.assertEqual(so["spec"]["triggers"][0]["metadata"]["value"],
                                 arg_value(args, "-c"))

    def test_as_many_key_sets_as_replicas_at_most(self):
        balancer = d.load_yaml_docs(os.path.join(d.K8S_BASE, "config", "balancer.yaml"))[0]
        most = sum(so["spec"]["maxReplicaCount"]
                   for so in d.by_kind(d.base_resources(), "ScaledObject").values())
        self.assertEqual(len(balancer["key_sets"]), most)


class OtherObjectsTest(unittest.TestCase):
    def setUp(self):
        self.docs = d.base_resources()

    def test_a_pdb_per_deployment(self):
        pdbs = d.by_kind(self.docs, "PodDisruptionBudget")
        for name, dep in d.by_kind(self.docs, "Deployment").items():
            with self.subTest(name=name):
                self.assertEqual(pdbs[name]["spec"]["selector"], dep["spec"]["selector"])

    def test_service_and_service_monitor_reach_port_metrics(self):
        (svc,) = d.by_kind(self.docs, "Service").values()
        (sm,) = d.by_kind(self.docs, "ServiceMonitor").values()
        self.assertEqual(svc["spec"]["ports"][0]["port"], 9808)
        self.assertEqual(svc["spec"]["ports"][0]["name"], "metrics")
        self.assertEqual(sm["spec"]["endpoints"][0]["port"], "metrics")
        self.assertEqual(sm["spec"]["endpoints"][0]["path"], "/metrics")
        for name, dep in d.by_kind(self.docs, "Deployment").items():
            labels = dep["spec"]["template"]["metadata"]["labels"]
            self.assertLessEqual(svc["spec"]["selector"].items(), labels.items(), name)
        self.assertLessEqual(sm["spec"]["selector"]["matchLabels"].items(),
                             svc["metadata"]["labels"].items())


@unittest.skipUnless(shutil.which("kubectl"), "kubectl not installed")
class RenderedOverlayTest(unittest.TestCase):
    """The example overlay as `kubectl apply -k` would send it."""

    def setUp(self):
        self.docs = d.rendered_overlay()

    def test_every_referenced_secret_and_config_map_exists(self):
        names = {(doc["kind"], doc["metadata"]["name"]) for doc in self.docs}
        text = json.dumps(self.docs)
        refs = set(re.findall(r'"secretKeyRef": \{"key": "[^"]+", "name": "([^"]+)"', text))
        for doc in self.docs:
            if doc["kind"] == "Deployment":
                pod = doc["spec"]["template"]["spec"]
                for c in pod["containers"]:
                    refs |= {e["secretRef"]["name"] for e in c.get("envFrom", [])}
                    refs |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", [])}
                for v in pod["volumes"]:
                    self.assertIn(("ConfigMap", v["configMap"]["name"]), names)
            if doc["kind"] == "TriggerAuthentication":
                refs |= {r["name"] for r in doc["spec"]["secretTargetRef"]}
        self.assertTrue(refs)
        for r in refs:
            self.assertIn(("Secret", r), names)

    def test_image_is_the_overlays(self):
        for doc in self.docs:
            if doc["kind"] == "Deployment":
                self.assertEqual(doc["spec"]["template"]["spec"]["containers"][0]["image"],
                                 "registry.example.com/waste/celeriac:0.1.0")
                self.assertEqual(doc["metadata"]["namespace"], "workers")


if __name__ == "__main__":
    unittest.main()
