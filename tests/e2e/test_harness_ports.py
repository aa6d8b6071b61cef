"""The ports the test harness (tests/support/loopback_ports.py) gives its servers.

Server tests run side by side (ctest -j). A RabbitMQ node of one test once died at boot
in CI: its port had been picked with bind(0), from the kernel's ephemeral range, where
every rabbitmqctl on the machine listens (35672-35682 by default) and every outgoing
connection takes its local port. These check, from outside, that a reserved port is
outside that range and stays another process's until it exits, and that a test node's
rabbitmqctl listens in the node's own reserved range.
"""

import fcntl
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import loopback_ports  # noqa: E402
import testenv  # noqa: E402

HOLD_PORTS = """
import sys
sys.path.insert(0, %r)
import loopback_ports
print(loopback_ports.reserve_ports(3), flush=True)
sys.stdin.read()  # holds them until the parent closes our stdin
""" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support")


def ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        return tuple(int(v) for v in f.read().split())


def listening_ports(pid_name="beam.smp"):
    """Ports a process called `pid_name` listens on, from ss."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        if pid_name in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


class ReservedPortsTest(unittest.TestCase):
    def test_a_reserved_port_is_outside_the_ephemeral_range(self):
        low, high = ephemeral_range()
        for _ in range(50):
            port = loopback_ports.reserve_ports(2)
            self.assertFalse(low <= port <= high or low <= port + 1 <= high, port)

    def test_ports_another_process_holds_are_not_handed_out_until_it_exits(self):
        child = subprocess.Popen([sys.executable, "-c", HOLD_PORTS], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            held = int(child.stdout.readline())
            for port in range(held, held + 3):
                fd = os.open(os.path.join(loopback_ports.PORT_LOCK_DIR, str(port)), os.O_RDWR)
                try:
                    with self.assertRaises(BlockingIOError, msg="port %d" % port):
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                finally:
                    os.close(fd)
        finally:
            child.stdin.close()
            child.stdout.close()
            child.wait(timeout=10)
        # Gone with the process: the same lock is free now.
        fd = os.open(os.path.join(loopback_ports.PORT_LOCK_DIR, str(held)), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


class RabbitCtlPortsTest(unittest.TestCase):
    def test_rabbitmqctl_listens_in_the_nodes_own_reserved_range(self):
        rabbit = testenv.RabbitServer().start()
        try:
            before = listening_ports()
            # An Erlang node for as long as the eval runs.
            ctl = threading.Thread(target=rabbit.ctl, args=("eval", "timer:sleep(4000)."),
                                   kwargs={"check": False})
            ctl.start()
            first = rabbit.dist_port + 1
            own = set(range(first, first + testenv.RABBITMQ_CTL_PORTS))
            deadline = time.time() + 30
            seen = set()
            while time.time() < deadline and not (seen & own):
                seen = listening_ports() - before
                time.sleep(0.1)
            ctl.join()
            self.assertTrue(seen & own,
                            "rabbitmqctl listened on %s, not in %s" % (seen, sorted(own)))
        finally:
            rabbit.stop()
            rabbit.cleanup()


if __name__ == "__main__":
    unittest.main()
