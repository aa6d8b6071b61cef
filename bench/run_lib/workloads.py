"""bench/run's four workloads, run for one contender at a time on the shared servers.

What for: (a) echo, draining a full queue; (b) LLM-shaped, open-loop at the rate that
keeps `in_flight` calls open against a stub answering after `latency` s; (c) the same
against 4 keys x RPM, offered 10 % over the ceiling; (d) three endpoints, one answering
503 for a stretch mid-run. Each returns a dict of figures (report.py prints them) and
never asserts anything. What not: starting servers or choosing contenders (driver.py).
"""

import os
import subprocess
import threading
import time

from . import contenders, llm_config, load
from .proc_tree import TreeSampler, tree_cpu_s

QUEUE = "bench"


def _percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _start(contender, log, settle_s=0.5):
    contender.start()
    sampler = TreeSampler(contender.proc.pid).start()
    time.sleep(settle_s)
    if not contender.alive():
        log("%s exited at start:\n%s" % (contender.name, contender.log_tail()))
    return sampler


def _finish(contender, sampler, completed, fig):
    fig["cpu_s"] = tree_cpu_s(contender.proc.pid) if contender.alive() else None
    sampler.stop()
    contender.stop()
    fig["rss_mb"] = sampler.peak_mb
    fig["cpu_per_1000"] = (fig["cpu_s"] * 1000.0 / completed
                           if fig["cpu_s"] is not None and completed else None)
    return fig


def echo(servers, name, n, log):
    servers.reset(QUEUE)
    load.publish(servers.rabbit.url, QUEUE, load.echo_call, n)
    expected = servers.queue_ready(QUEUE)
    c, conc = contenders.make(name, "echo", 0, servers, QUEUE)
    started = time.time()
    sampler = _start(c, log, settle_s=0)
    first = last = None
    last_n, progress = 0, time.time()
    while True:
        done, now = servers.r.dbsize(), time.time()
        if done and first is None:
            first = now
        if done != last_n:
            last_n, last, progress = done, now, now
        if done >= expected or now - progress > 30 or not c.alive():
            break
        time.sleep(0.002)
    # From the first result to the last (a worker's start-up is not its drain rate); when
    # a small queue drained between two polls, from the worker's start.
    if first and last and last - first > 0.05:
        rate = last_n / (last - first)
    else:
        rate = last_n / (last - started) if last else None
    fig = {"tasks": expected, "done": last_n, "rate": rate, "concurrency": conc}
    return _finish(c, sampler, last_n, fig)


def broker_ceiling(servers, n, log):
    servers.reset(QUEUE)
    load.publish(servers.rabbit.url, QUEUE, load.echo_call, n)
    expected = servers.queue_ready(QUEUE)
    binary = os.environ.get("ACK_CONSUMER_BIN") or os.path.join(
        contenders.BENCH, "..", "build", "bench", "broker", "bench_ack_consumer")
    r = subprocess.run([binary, "127.0.0.1", str(servers.rabbit.port), QUEUE, str(expected)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        log("ack_consumer failed: %s" % r.stderr)
        return {"tasks": expected, "rate": None}
    # "consumed <n> in <s> s: <rate> msg/s"
    return {"tasks": expected, "rate": float(r.stdout.split(":")[1].split()[0])}


def _open_loop(servers, name, in_flight, latency_s, duration_s, config, endpoints, log,
               during=None, patience_s=30):
    """Sends in_flight/latency tasks/s for duration_s, waits for the results (or gives
    up latency + patience_s after the last send), stops the worker. `during(elapsed)` is
    called about every 0.2 s while it runs (faults)."""
    c, conc = contenders.make(name, "llm", in_flight, servers, QUEUE, config, endpoints)
    sampler = _start(c, log)
    servers.wait_consumer(QUEUE)  # a worker's start-up is not part of its latency
    listener = load.ResultListener(servers.redis.url)
    rate = in_flight / latency_s
    n = int(rate * duration_s)
    box = {}
    sender = threading.Thread(target=lambda: box.update(
        zip(("sent", "send_s"), load.publish(servers.rabbit.url, QUEUE, load.analyze_call, n,
                                             rate=rate))))
    t0 = time.time() + 1.0
    sender.start()
    give_up = None
    while True:
        now = time.time()
        if during:
            during(now - t0)
        if "sent" in box and give_up is None:
            give_up = now + latency_s + patience_s
            last_send = max(box["sent"].values())
        # Only this run's tasks count: a result of any other task is not one of them.
        if give_up and (listener.count_of(box["sent"]) >= len(box["sent"]) or now > give_up
                        or not c.alive()):
            break
        time.sleep(0.2)
    sender.join()
    t0 = min(box["sent"].values())
    # Only this run's tasks: a stopped worker of an earlier run may still publish.
    # dict() first: the listener's thread may still be adding results.
    results = {i: v for i, v in dict(listener.results).items() if i in box["sent"]}
    completed = sum(1 for _, st in results.values() if st == "SUCCESS")
    fig = {"concurrency": conc, "sent": len(box["sent"]), "completed": completed,
           "failed": len(box["sent"]) - completed, "offered_rate": rate,
           "failures": sum(1 for _, st in results.values() if st == "FAILURE"),
           "sent_rate": len(box["sent"]) / max(box["send_s"], 1e-9), "t0": t0,
           "last_send": last_send, "stub": servers.stub.stats()}
    lat = [results[i][0] - t if i in results and results[i][1] == "SUCCESS"
           else float("inf") for i, t in box["sent"].items()]
    fig["p50"], fig["p99"] = _percentile(lat, 0.5), _percentile(lat, 0.99)
    fig["done_times"] = sorted(t for t, st in results.values() if st == "SUCCESS")
    listener.close()
    return _finish(c, sampler, completed, fig)


def llm(servers, name, in_flight, latency_s, duration_s, protocol, workdir, log):
    servers.reset(QUEUE, latency_ms=int(latency_s * 1000))
    config, endpoints = llm_config.write(workdir, servers.stub.url, "one", in_flight, protocol)
    fig = _open_loop(servers, name, in_flight, latency_s, duration_s, config, endpoints, log)
    # Steady state: results that landed between one latency after the first send and
    # the last send, against the ideal in_flight / latency.
    lo, hi = fig["t0"] + latency_s, fig["last_send"]
    steady = sum(1 for t in fig["done_times"] if lo <= t <= hi)
    fig["throughput"] = steady / (hi - lo) if hi > lo else None
    fig["efficiency"] = fig["throughput"] / fig["offered_rate"] if fig["throughput"] else None
    return fig


def rate_limited(servers, name, rpm, duration_s, latency_s, protocol, workdir, log):
    servers.reset(QUEUE, latency_ms=int(latency_s * 1000), rpm_limit=rpm)
    ceiling = 4 * rpm / 60.0  # tasks/s
    in_flight = max(1, int(ceiling * 1.1 * latency_s))  # offered: 10 % over the ceiling
    config, endpoints = llm_config.write(workdir, servers.stub.url, "keys4", in_flight,
                                         protocol, rpm=rpm, max_queue_wait=120)
    # Only results within one latency of the last send count: no need to wait for more.
    fig = _open_loop(servers, name, in_flight, latency_s, duration_s, config, endpoints, log,
                     patience_s=1)
    # The sends of the first duration_s seconds answer one latency later.
    lo = fig["t0"] + latency_s
    in_window = sum(1 for t in fig["done_times"] if lo <= t <= lo + duration_s)
    fig["achieved_per_min"] = in_window * 60.0 / duration_s
    fig["ceiling_per_min"] = 4 * rpm
    fig["of_ceiling"] = fig["achieved_per_min"] / fig["ceiling_per_min"]
    fig["http_429"] = fig["stub"]["totals"].get("rate_limited", 0)
    return fig


def failing_endpoint(servers, name, in_flight, latency_s, duration_s, fault_from_s,
                     fault_s, protocol, workdir, log):
    servers.reset(QUEUE, latency_ms=int(latency_s * 1000))
    config, endpoints = llm_config.write(workdir, servers.stub.url, "three", in_flight,
                                         protocol)
    state = {}

    def during(elapsed):
        if "id" not in state and elapsed >= fault_from_s:
            state["id"] = servers.stub.fault(fault="status", status=503,
                                             key=endpoints[2]["key"])["id"]
        elif "id" in state and "off" not in state and elapsed >= fault_from_s + fault_s:
            servers.stub.admin("DELETE", "/admin/faults/%d" % state["id"])
            state["off"] = True

    fig = _open_loop(servers, name, in_flight, latency_s, duration_s, config, endpoints, log,
                     during)
    fig["http_503"] = fig["stub"]["totals"].get("by_status", {}).get("503", 0)
    return fig
