"""bench/run's output: results.md (markdown tables, targets reported, never asserted),
results.json (the figures) and PNG charts (matplotlib, no display) in one directory.

What for: turning the figures of one run into what a user reads. What not: measuring.
Every figure is from one run on a shared machine; the header says so.
"""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PY_POOLS = ["celery-prefork", "celery-threads", "celery-gevent"]


def _f(v, fmt="{:,.0f}", none="n/a"):
    if v is None:
        return none
    if v == float("inf"):
        return "not done"
    return fmt.format(v)


def _s(v):
    return _f(v, "{:.2f} s")


def _pct(v):
    return _f(None if v is None else 100.0 * v, "{:.0f} %")


def _common(fig):
    return "%s | %s" % (_f(fig.get("rss_mb"), "{:.1f} MB"), _f(fig.get("cpu_per_1000"),
                                                               "{:.2f} s"))


def _ratio(a, b):
    return a / b if a and b else None


def targets(res):
    echo = res.get("echo", {})
    cel = (echo.get("celeriac") or {}).get("rate")
    py_best = max([echo[p]["rate"] for p in PY_POOLS if echo.get(p, {}).get("rate")],
                  default=None)
    node = (echo.get("celery-node") or {}).get("rate")
    ceiling = (res.get("broker_ceiling") or {}).get("rate")
    top = max(res.get("llm", {}).get("celeriac", {}).keys(), default=None, key=int)
    l5 = res.get("llm", {}).get("celeriac", {}).get(top, {}) if top else {}
    rl = res.get("rate_limited", {}).get("celeriac", {})
    rows = [
        ("echo vs Python Celery's best pool", "≥ 10x", _f(_ratio(cel, py_best), "{:.1f}x")),
        ("echo vs celery-node", "≥ 2x", _f(_ratio(cel, node), "{:.1f}x")),
        ("echo vs the broker's ceiling", "≥ 50 %", _pct(_ratio(cel, ceiling))),
        ("LLM-shaped at %s in flight: efficiency" % top, "≥ 90 %", _pct(l5.get("efficiency"))),
        ("LLM-shaped at %s in flight: p99 / latency" % top, "≤ 1.2x",
         _f(_ratio(l5.get("p99"), res.get("latency_s")), "{:.2f}x")),
        ("LLM-shaped at %s in flight: peak RSS" % top, "< 64 MB",
         _f(l5.get("rss_mb"), "{:.1f} MB")),
        ("rate-limited: share of the ceiling", "≥ 97 %", _pct(rl.get("of_ceiling"))),
        ("rate-limited: 429s received", "0", _f(rl.get("http_429"))),
    ]
    out = ["| celeriac target | wanted | this run |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % r for r in rows]
    return out


def markdown(res):
    L = ["# bench/run results", "", res["header"], ""]
    L += ["## Targets (reported, never asserted)", ""] + targets(res) + [""]
    ceiling = (res.get("broker_ceiling") or {}).get("rate")
    L += ["## (a) echo: draining a full queue", "",
          "| worker | concurrency | tasks | tasks/s | of broker ceiling | peak RSS | CPU s / 1,000 |",
          "|---|---|---|---|---|---|---|",
          "| broker ceiling (ack-only C consumer) | prefetch 2000 | %s | %s | 100 %% | | |"
          % (_f((res.get("broker_ceiling") or {}).get("tasks")), _f(ceiling))]
    for name, fig in res.get("echo", {}).items():
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            name, _f(fig.get("concurrency"), "{}", "unlimited"), _f(fig.get("done")),
            _f(fig.get("rate")), _pct(_ratio(fig.get("rate"), ceiling)), _common(fig)))
    L += ["", "## (b) LLM-shaped: stub latency %s s, open loop at in_flight / latency"
          % res.get("latency_s"), "",
          "| worker | in flight | concurrency | sent/s (offered) | tasks/s | of ideal | "
          "p50 | p99 | not succeeded | peak RSS | CPU s / 1,000 |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, levels in res.get("llm", {}).items():
        for level, fig in levels.items():
            L.append("| %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s |" % (
                name, _f(int(level)), _f(fig.get("concurrency"), "{}", "unlimited"),
                _f(fig.get("sent_rate")), _f(fig.get("offered_rate")), _f(fig.get("throughput")),
                _pct(fig.get("efficiency")), _s(fig.get("p50")), _s(fig.get("p99")),
                _f(fig.get("failed")), _common(fig)))
    rl = res.get("rate_limited", {})
    if rl:
        any_fig = next(iter(rl.values()))
        L += ["", "## (c) rate-limited: 4 keys x %s RPM, offered 10 %% over the ceiling"
              % _f(any_fig.get("ceiling_per_min", 0) / 4), "",
              "| worker | achieved / min | of the %s / min ceiling | 429s | failed tasks | "
              "peak RSS | CPU s / 1,000 |" % _f(any_fig.get("ceiling_per_min")),
              "|---|---|---|---|---|---|---|"]
        for name, fig in rl.items():
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                name, _f(fig.get("achieved_per_min")), _pct(fig.get("of_ceiling")),
                _f(fig.get("http_429")), _f(fig.get("failures")), _common(fig)))
    fe = res.get("failing_endpoint", {})
    if fe:
        L += ["", "## (d) one of three endpoints answering 503 for %s s mid-run"
              % res.get("fault_s"), "",
              "| worker | tasks | failed | no result | 503s sent | p50 | p99 | peak RSS | "
              "CPU s / 1,000 |", "|---|---|---|---|---|---|---|---|---|"]
        for name, fig in fe.items():
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, _f(fig.get("sent")), _f(fig.get("failures")),
                _f(fig.get("failed", 0) - fig.get("failures", 0)), _f(fig.get("http_503")),
                _s(fig.get("p50")), _s(fig.get("p99")), _common(fig)))
    L += ["", res.get("notes", ""), ""]
    return "\n".join(L)


def _bar(path, title, ylabel, labels, values):
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(labels, [v or 0 for v in values])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def charts(res, out):
    echo = res.get("echo", {})
    labels = ["broker ceiling"] + list(echo)
    values = [(res.get("broker_ceiling") or {}).get("rate")] + [f.get("rate") for f in
                                                                echo.values()]
    _bar(os.path.join(out, "echo.png"), "(a) echo: tasks/s draining a full queue",
         "tasks/s", labels, values)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, levels in res.get("llm", {}).items():
        xs = [int(k) for k in levels]
        axes[0].plot(xs, [100 * (f.get("efficiency") or 0) for f in levels.values()],
                     marker="o", label=name)
        axes[1].plot(xs, [min(f.get("p99") or 0, 60) for f in levels.values()], marker="o",
                     label=name)
    axes[0].set(title="(b) efficiency vs ideal (in_flight / latency)", xlabel="in flight",
                ylabel="% of ideal", xscale="log")
    axes[1].set(title="(b) end-to-end p99 (capped at 60 s)", xlabel="in flight",
                ylabel="seconds", xscale="log")
    if res.get("llm"):
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "llm.png"), dpi=90)
    plt.close(fig)
    rl = res.get("rate_limited", {})
    _bar(os.path.join(out, "rate_limited.png"), "(c) rate-limited: achieved per minute",
         "tasks / min", list(rl), [f.get("achieved_per_min") for f in rl.values()])
    fe = res.get("failing_endpoint", {})
    _bar(os.path.join(out, "failing_endpoint.png"), "(d) one endpoint 503: p99 (s)",
         "seconds", list(fe), [min(f.get("p99") or 0, 60) for f in fe.values()])


def write(res, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(markdown(res))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    charts(res, out)
