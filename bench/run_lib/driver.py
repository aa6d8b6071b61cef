"""bench/run's driver: one run, one set of servers, every contender in turn.

What for: parses the options, starts RabbitMQ, Redis and the llm-stub once, runs the
workloads for each contender (and the broker's own ceiling), and writes the report.
Counts come from the mode: --quick (CI: small counts, under 3 minutes) or the full run.
What not: measuring details (workloads.py) or formatting (report.py).
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import contenders, report, workloads
from .servers import Servers

BENCH = contenders.BENCH

# echo counts: Python Celery's pools drain ~1,000/s here, so they get fewer tasks than
# the others (a rate, not a total, is compared).
FULL = {"echo": 50000, "echo_py": 10000, "levels": [100, 1000, 5000], "duration_s": 20,
        "latency_s": 2.0, "rpm": 600, "rl_duration_s": 60, "fe_in_flight": 100,
        "fe_duration_s": 60, "fault_from_s": 15, "fault_s": 30}
# Quick (CI): every contender drains its echo queue, and the LLM workloads run for
# celeriac and the two other single-process contenders (the prefork and thread pools
# differ from gevent only by their command line, and prefork's start-up alone is long).
QUICK = {"echo": 2000, "echo_py": 300, "levels": [50], "duration_s": 3,
         "latency_s": 2.0, "rpm": 600, "rl_duration_s": 3, "fe_in_flight": 20,
         "fe_duration_s": 5, "fault_from_s": 1, "fault_s": 2,
         "llm_contenders": ["celeriac", "celery-gevent", "celery-node"]}


def parse(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description=(
        "celeriac side by side with Python Celery (prefork, threads, gevent) and "
        "celery-node on the same RabbitMQ, Redis and llm-stub."))
    ap.add_argument("--quick", action="store_true",
                    help="small counts, under 3 minutes (CI runs this; figures mean nothing)")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"),
                    help="directory for results.md, results.json and the PNG charts")
    ap.add_argument("--protocol", choices=["h1", "h2"], default="h1",
                    help="celeriac's transport to the stub (h2: endpoints say http2: true)")
    ap.add_argument("--contenders", default=",".join(contenders.ALL),
                    help="comma list out of: " + ", ".join(contenders.ALL))
    ap.add_argument("--workloads", default="echo,llm,rate_limited,failing_endpoint")
    return ap.parse_args(argv)


def header(args, mode, skipped):
    try:
        commit = subprocess.run(["git", "-C", BENCH, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    load = os.getloadavg()
    text = ("%s run, %s UTC, commit %s, `bench/run%s`, protocol %s. %d cores, load average "
            "%.1f at the start. RabbitMQ, Redis, the llm-stub, the publishers and the worker "
            "share those cores (and, on the development machine, other engineers' builds "
            "and tests): the figures are noisy; compare rows of one run, not runs."
            % ("Quick (small counts: the figures mean little)" if mode is QUICK else "Full",
               datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), commit,
               " --quick" if mode is QUICK else "", args.protocol, os.cpu_count(), load[0]))
    if mode is QUICK:
        text += (" Quick mode runs the LLM workloads (b-d) for %s only."
                 % ", ".join(QUICK["llm_contenders"]))
    if skipped:
        text += " Not run: " + "; ".join(skipped) + "."
    return text


def main(argv):
    args = parse(argv)
    mode = QUICK if args.quick else FULL
    names = [n for n in args.contenders.split(",") if n]
    wanted = set(args.workloads.split(","))
    started = time.time()

    def log(msg):
        print("[bench %5.0f s] %s" % (time.time() - started, msg), flush=True)

    skipped = []
    head = None  # written at the start: the date and load average before the run
    if "celery-node" in names and not contenders.install_node(log):
        names.remove("celery-node")
        skipped.append("celery-node (npm could not install it)")
    res = {"latency_s": mode["latency_s"], "fault_s": mode["fault_s"], "echo": {}, "llm": {},
           "rate_limited": {}, "failing_endpoint": {}}
    head = header(args, mode, skipped)
    workdir = tempfile.mkdtemp(prefix="bench-run-")
    servers = Servers()
    try:
        servers.start()
        if "echo" in wanted:
            log("broker ceiling: %d messages" % mode["echo"])
            res["broker_ceiling"] = workloads.broker_ceiling(servers, mode["echo"], log)
            for name in names:
                n = mode["echo_py"] if name.startswith("celery-") and name != "celery-node" \
                    else mode["echo"]
                log("echo: %s, %d tasks" % (name, n))
                res["echo"][name] = workloads.echo(servers, name, n, log)
                log("  -> %s tasks/s" % report._f(res["echo"][name]["rate"]))
        llm_names = [n for n in names if n in mode.get("llm_contenders", names)]
        for name in llm_names if "llm" in wanted else []:
            res["llm"][name] = {}
            for level in mode["levels"]:
                log("llm: %s at %d in flight" % (name, level))
                fig = workloads.llm(servers, name, level, mode["latency_s"], mode["duration_s"],
                                    args.protocol, workdir, log)
                res["llm"][name][str(level)] = fig
                log("  -> %s tasks/s, p99 %s" % (report._f(fig["throughput"]),
                                                 report._s(fig["p99"])))
        for name in llm_names if "rate_limited" in wanted else []:
            log("rate-limited: %s" % name)
            res["rate_limited"][name] = workloads.rate_limited(
                servers, name, mode["rpm"], mode["rl_duration_s"], mode["latency_s"],
                args.protocol, workdir, log)
        for name in llm_names if "failing_endpoint" in wanted else []:
            log("failing endpoint: %s" % name)
            res["failing_endpoint"][name] = workloads.failing_endpoint(
                servers, name, mode["fe_in_flight"], mode["latency_s"], mode["fe_duration_s"],
                mode["fault_from_s"], mode["fault_s"], args.protocol, workdir, log)
    finally:
        contenders.stop_all()
        servers.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    for kind in ("llm", "rate_limited", "failing_endpoint"):
        for figs in res[kind].values():
            for fig in (figs.values() if kind == "llm" else [figs]):
                fig.pop("done_times", None)
                fig.pop("stub", None)
    res["header"] = head
    res["notes"] = NOTES
    report.write(res, args.out)
    log("wrote %s" % args.out)
    return 0


NOTES = """How each worker runs: celeriac `-c` = the in-flight level (1,000 for echo),
`--prefetch-multiplier 1` for the LLM workloads, its balancer in front of the stub. Python
Celery 5.2 (Debian) with `-P prefork|threads|gevent`, default prefetch, acks early (its
default); its task calls the stub with urllib3 and takes the endpoints in turn, a 429
waits its Retry-After (at most 10 s), a 5xx moves to the next endpoint, three attempts.
celery-node 0.5.9 (npm) runs the same task in Node with `http`; it acks on receipt and
has no prefetch limit, so its in-flight is whatever the queue holds. Concurrency of the
Python pools: echo prefork 2 / threads 100 / gevent 100; LLM the in-flight level capped at
prefork 64 / threads 1,000 / gevent 5,000 (bench/run_lib/contenders.py). Peak RSS is the
sum over the worker's process tree, sampled every 0.2 s; CPU is the tree's user+system
time over the workload. "not done" latencies: the task had no result when the run gave
up (latency + 30 s after the last send), counted as infinitely late."""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
