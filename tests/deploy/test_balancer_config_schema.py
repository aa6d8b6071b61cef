"""The balancer config's JSON Schema (schemas/balancer_config.schema.json) from outside:
Python's jsonschema accepts it as draft 7 and every balancer config the repository ships
or writes passes it; balancer/config/example.yaml shows every field it describes (the
README says so); and a wrong field stops the worker at start-up, as the README says."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

import jsonschema
import yaml

import deploy_common as d

sys.path.insert(0, d.path("tests", "support"))
sys.path.insert(0, d.path("tests", "reliability"))
sys.path.insert(0, d.path("bench"))

SCHEMA = d.path("schemas", "balancer_config.schema.json")
EXAMPLE = d.path("balancer", "config", "example.yaml")
SHIPPED = [EXAMPLE, os.path.join(d.K8S_BASE, "config", "balancer.yaml"),
           d.path("deploy", "compose", "fleet-balancer.yaml")]


def schema():
    with open(SCHEMA) as f:
        return json.load(f)


def field_names(node, out):
    """Every property name the schema describes, through definitions too."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            out.add(name)
            field_names(sub, out)
        for key, sub in node.items():
            if key != "properties":
                field_names(sub, out)
    elif isinstance(node, list):
        for sub in node:
            field_names(sub, out)
    return out


class BalancerConfigSchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.schema = schema()
        jsonschema.Draft7Validator.check_schema(cls.schema)
        cls.validator = jsonschema.Draft7Validator(cls.schema)
        cls.tmp = tempfile.mkdtemp(prefix="celeriac-balancer-schema-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertValid(self, config, where):
        errors = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
                  for e in self.validator.iter_errors(config)]
        self.assertEqual(errors, [], where)

    def test_shipped_configs_pass(self):
        for p in SHIPPED:
            with self.subTest(config=p):
                self.assertValid(d.load_yaml_docs(p)[0], p)

    def written(self, p):
        with open(p) as f:
            return yaml.safe_load(f)

    def test_configs_written_by_the_test_and_bench_helpers_pass(self):
        import testenv
        stub = types.SimpleNamespace(url="http://127.0.0.1:9")
        for extra in (None, {"http2": "true", "max_connections": 2,
                             "max_streams_per_connection": 50}):
            p = testenv.write_stub_llm_config(self.tmp, stub, endpoint_extra=extra)
            self.assertValid(self.written(p), "testenv.write_stub_llm_config %s" % extra)
        import fault_driver
        p = fault_driver.write_balancer_config(self.tmp, stub)
        self.assertValid(self.written(p), "fault_driver.write_balancer_config")
        from run_lib import llm_config
        for shape in ("one", "keys4", "three"):
            for protocol in ("h1", "h2"):
                p, _ = llm_config.write(self.tmp, stub.url, shape, 5000, protocol, rpm=600)
                self.assertValid(self.written(p), "bench llm_config %s %s" % (shape, protocol))

    def test_a_wrong_field_fails_the_schema_with_its_path(self):
        config = d.load_yaml_docs(EXAMPLE)[0]
        config["endpoints"][0]["wieght"] = 2
        config["strategy"] = "fastest"
        errors = {"/".join(str(p) for p in e.absolute_path) or e.validator
                  for e in self.validator.iter_errors(config)}
        self.assertEqual(errors, {"endpoints/0", "strategy"})

    def test_the_example_shows_every_field(self):
        # As a key, or in a comment for one the example does not set ("# base_url: ...").
        text = d.read(EXAMPLE)
        missing = [name for name in sorted(field_names(self.schema, set()))
                   if "%s:" % name not in text]
        self.assertEqual(missing, [])

    def test_readme_names_the_schema_and_the_start_up_error(self):
        text = " ".join(d.read(d.path("README.md")).split())  # sentences across lines
        self.assertIn("`schemas/balancer_config.schema.json` (JSON Schema draft 7) describes "
                      "every field of that file, for editors and Python as for the worker, "
                      "which checks `--llm-config` against it at start-up", text)
        self.assertIn("stops the worker (exit code 2) with a message naming the file, the "
                      "field and what was expected", text)
        self.assertIn("`--llm-config balancer.yaml: endpoints[0].wieght: unknown field`", text)

    def test_a_wrong_field_stops_the_worker_at_start_up(self):
        cases = [
            ("endpoints: [{url: 'http://127.0.0.1:9/v1', wieght: 2}]\n",
             "endpoints[0].wieght: unknown field"),
            ("strategy: fastest\nendpoints: [{url: 'http://127.0.0.1:9/v1'}]\n",
             "strategy: must be one of round_robin, weighted, least_connections, random, "
             "latency, cost"),
            ("timeout: soon\nendpoints: [{url: 'http://127.0.0.1:9/v1'}]\n",
             "timeout: must be a positive number"),
            ("endpoints: [{url: 'http://127.0.0.1:9/v1', max_connections: 0}]\n",
             "endpoints[0].max_connections: must be at least 1"),
            ("timeout: 30\n", "endpoints: is required"),
        ]
        for text, expected in cases:
            with self.subTest(expected=expected):
                p = os.path.join(self.tmp, "balancer.yaml")
                with open(p, "w") as f:
                    f.write(text)
                # No broker or Redis is needed: the config is checked before connecting.
                proc = subprocess.run(
                    [d.celeriac_bin(), "worker", "--llm-config", p,
                     "--broker", "amqp://guest:guest@127.0.0.1:1//",
                     "--result-backend", "redis://127.0.0.1:1/0", "--http-port", "0"],
                    capture_output=True, text=True, timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                self.assertIn("--llm-config %s: %s" % (p, expected), proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
