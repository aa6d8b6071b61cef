"""Loopback ports for the servers the tests start (testenv.py's servers, the benches).

Many tests run at once (ctest -j), each with its own servers, so a port must be one that
(1) no other test takes meanwhile and (2) nothing else on the machine binds by chance
between our choosing it and the server binding it (and again while a test restarts a
server on the same port). A port the kernel handed out for bind(0) fails (2): it comes
from the ephemeral range, which every outgoing connection and every `rabbitmqctl` Erlang
node also draw from, and rabbitmqctl 3.10 even listens on fixed ports in it
(35672-35682) unless told otherwise. So ports come from below the ephemeral range, and
each is claimed by an flock on a file in PORT_LOCK_DIR, held until this process exits (a
crashed test frees its ports). tests/integration/test_ports.cc does the same for the C++
tests, and deploy/local/fleet.sh for the fleet.
"""

import contextlib
import fcntl
import os
import random
import socket

PORT_LOCK_DIR = "/tmp/celeriac-test-ports"
_held_port_locks = []


def _port_candidates():
    """The range ports are taken from: below the kernel's ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(v) for v in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - 10000 >= 2000:
        return 10000, low
    if 65535 - high >= 2000:
        return high + 1, 65536
    raise RuntimeError("no port range outside the ephemeral one (%d-%d)" % (low, high))


def _bindable(port):
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _claim(port):
    """The lock file's fd if this process now holds `port`, else None."""
    fd = os.open(os.path.join(PORT_LOCK_DIR, str(port)), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC,
                 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if not _bindable(port):  # something outside the tests holds it
        os.close(fd)
        return None
    return fd


def reserve_ports(count):
    """The first of `count` consecutive loopback ports, reserved for this process."""
    low, high = _port_candidates()
    os.makedirs(PORT_LOCK_DIR, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(PORT_LOCK_DIR, 0o1777)  # shared by every user's tests
    for _ in range(1000):
        base = random.randrange(low, high - count)
        locks = []
        for port in range(base, base + count):
            fd = _claim(port)
            if fd is None:
                break
            locks.append(fd)
        if len(locks) == count:
            _held_port_locks.extend(locks)
            return base
        for fd in locks:
            os.close(fd)
    raise RuntimeError("no %d free consecutive ports in %d-%d" % (count, low, high))


def free_port():
    """A loopback port nothing listens on, reserved for this process (see the module docstring)."""
    return reserve_ports(1)
