"""Peak RSS and CPU seconds of a whole process tree (a worker and every child it forks).

What for: bench/run compares workers whose memory lives in one process (celeriac,
celery-node, Celery's thread and gevent pools) with Celery's prefork pool (a parent and
N children): each is measured as the sum over its tree. A sampler thread reads /proc
every 0.2 s, so a peak between two samples can be missed (VmHWM per process cannot be
summed: the peaks need not coincide). Linux only. Owns nothing but its thread.
"""

import os
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def tree(pid):
    """pid and every descendant alive now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid, with_reaped_children=False):
    """utime + stime (and, for the root, what its reaped children used)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def tree_cpu_s(pid):
    pids = tree(pid)
    return sum(cpu_s(p, with_reaped_children=(p == pid)) for p in pids)


class TreeSampler:
    """Samples the tree's summed RSS until stop(); peak_mb and cpu_s() afterwards."""

    def __init__(self, pid, interval=0.2):
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in tree(self.pid)))
            time.sleep(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        return self

    @property
    def peak_mb(self):
        return self.peak_kb / 1024.0
