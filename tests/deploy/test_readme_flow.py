"""README's "How a task flows" section and its "Layout" drawing name real files: each
step's backticked paths exist, and each function or type a step names (`onDelivery`,
`Balancer::submit`) is written in one of the files that step names, so the walk from
the AMQP frame to the ack can be followed in the code."""

import os
import re
import unittest

import deploy_common as d

PATH = re.compile(r"`((?:worker|balancer|tests|schemas|deploy|bench)/[^`\s]+)`")
NAME = re.compile(r"`((?:[A-Za-z_]\w*::)?[A-Za-z_]\w*)`")


def section(title):
    text = d.read(d.path("README.md"))
    m = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"README has no '## {title}' section"
    return m.group(1)


def steps(text):
    """The numbered steps, each as one string (an item runs to the next number)."""
    return re.split(r"^\d+\. ", text, flags=re.M)[1:]


class ReadmeTaskFlowTest(unittest.TestCase):
    def test_has_steps_from_the_frame_to_the_ack(self):
        items = steps(section("How a task flows"))
        self.assertGreaterEqual(len(items), 5)
        self.assertIn("amqp_io_thread", items[0])
        self.assertIn("ack", items[-1].lower())

    def test_every_path_exists(self):
        for item in steps(section("How a task flows")):
            for p in PATH.findall(item):
                with self.subTest(path=p):
                    self.assertTrue(os.path.exists(d.path(p)), p)

    def test_every_named_function_is_in_a_file_of_its_step(self):
        checked = 0
        for item in steps(section("How a task flows")):
            files = [d.path(p) for p in PATH.findall(item) if os.path.isfile(d.path(p))]
            sources = "\n".join(d.read(f) for f in files)
            for name in NAME.findall(item):
                last = name.split("::")[-1]
                with self.subTest(name=name, step=item[:40]):
                    self.assertRegex(sources, r"\b" + re.escape(last) + r"\b",
                                     f"{name} is not in {[os.path.relpath(f, d.ROOT) for f in files]}")
                    checked += 1
        self.assertGreater(checked, 10)

    def test_layout_drawing_names_real_folders(self):
        text = section("Layout")
        drawing = re.search(r"```\n(balancer/.*?)```", text, re.S).group(1)
        parts = re.findall(r"^\s+(\w+)/\s", drawing, re.M)
        self.assertGreaterEqual(len(parts), 6)
        for part in parts:
            with self.subTest(part=part):
                self.assertTrue(os.path.isdir(d.path("balancer", "src", part)) or
                                os.path.isdir(d.path("balancer", "include", "balancer", part)) or
                                part in ("src",), part)

    def test_worker_drawing_names_real_folders(self):
        text = section("Layout")
        drawing = re.search(r"```\n(worker/.*?)```", text, re.S).group(1)
        parts = re.findall(r"^(\s+)(\w+)/\s", drawing, re.M)
        self.assertGreaterEqual(len(parts), 8)
        parent = ""
        for indent, part in parts:
            folder = part if len(indent) == 2 else parent + "/" + part
            if len(indent) == 2:
                parent = part
            with self.subTest(folder=folder):
                self.assertTrue(os.path.isdir(d.path("worker", folder)), folder)
        for name in re.findall(r"\b(\w+\.cc)\b", drawing):
            with self.subTest(file=name):
                found = [p for p, _, files in os.walk(d.path("worker")) if name in files]
                self.assertTrue(found, name)


if __name__ == "__main__":
    unittest.main()
