"""The fault driver's report: DriverReport, the part of the Driver that writes the text
it prints at the end: the faults injected, a table of the task ids sent by kind (right,
wrong, lost), the model calls and their duplicates, the queues and workers at the end,
and the verdict: PASS only when nothing was lost or wrong and every other check holds,
else FAIL with each reason and the first details.
"""

import collections
import time

from driver_config import HEARTBEAT_S, T0


class DriverReport:
    """The Driver's report (a mixin of fault_driver.Driver, whose __init__ sets the state
    used here)."""

    def report(self, load, pending, not_serving, leftovers, dead, llm, exits, load_s, drain_s):
        lines = []
        p = lines.append
        ok = True
        p("celeriac fault driver: mode=%s seed=%d (reproduce: fault_driver.py --mode %s --seed %d)"
          % (self.opts.mode, self.seed, self.opts.mode, self.seed))
        p("total %.0f s: load %.0f s, drain %.0f s; 2 workers -c %d, --heartbeat %d, llm-stub +%d ms"
          % (time.time() - T0, load_s, drain_s, self.mode["concurrency"], HEARTBEAT_S,
             self.mode["stub_latency_ms"]))
        p("")
        p("%-30s %5s  %s" % ("faults injected", "count", "at (s from start): detail"))
        by_kind = collections.OrderedDict()
        for kind, start, end, detail in sorted(self.faults, key=lambda f: f[1]):
            by_kind.setdefault(kind, []).append("%.0f-%.0f: %s" % (start, end, detail))
        for kind, items in by_kind.items():
            p("  %-28s %5d  %s" % (kind, len(items), items[0]))
            for item in items[1:]:
                p("  %-28s %5s  %s" % ("", "", item))
        p("")
        rows = collections.OrderedDict()
        for s in load.sent + self.hostile:
            kind = s.kind if not s.kind.startswith("hostile:") else "hostile corpus messages"
            row = rows.setdefault(kind, collections.Counter())
            row["sent"] += 1
            if s.verdict is None:
                row["right"] += 1
            elif s in pending:
                row["lost"] += 1
            else:
                row["wrong"] += 1
            if s.kind.startswith("hostile:"):
                exp = s.expect or {}
                outcome = exp.get("outcome", "?")
                row[{"success": "SUCCESS", "failure": "FAILURE", "revoked": "REVOKED",
                     "no_result": "no id", "parked": "parked"}.get(outcome, outcome)] += 1
            else:
                row["SUCCESS" if s.verdict is None else "other"] += 1
        header = ("tasks sent (ids)", "sent", "SUCCESS", "FAILURE", "REVOKED", "no id",
                  "right", "wrong", "lost")
        p("%-32s %6s %8s %8s %8s %6s %6s %6s %5s" % header)
        total = collections.Counter()
        for kind, row in rows.items():
            total.update(row)
            p("  %-30s %6d %8d %8d %8d %6d %6d %6d %5d" % (
                kind, row["sent"], row["SUCCESS"], row["FAILURE"], row["REVOKED"],
                row["no id"], row["right"], row["wrong"], row["lost"]))
        p("  %-30s %6d %8d %8d %8d %6d %6d %6d %5d" % (
            "total", total["sent"], total["SUCCESS"], total["FAILURE"], total["REVOKED"],
            total["no id"], total["right"], total["wrong"], total["lost"]))
        p("  (hostile rows count the outcome each case expects; 'right' = it happened)")
        p("")
        st = llm["statuses"]
        p("LLM calls: %d through the proxy (llm-stub counted %d): %s; unattributed %d"
          % (llm["requests"], llm["stub_received"],
             ", ".join("%s: %d" % (k if k is not None else "no answer", v)
                       for k, v in sorted(st.items(), key=lambda kv: str(kv[0]))),
             llm["unattributed"]))
        p("duplicates (a task's model answered more than once): %d, explained by a fault %d, "
          "unexplained %d" % (len(llm["duplicates"]),
                              len(llm["duplicates"]) - len(llm["unexplained"]),
                              len(llm["unexplained"])))
        p("results a client's get() saw published: %d ids (the first terminal state of each "
          "is checked against the final one)" % len(self.watcher.first))
        p("worker exits the driver did not cause: %d" % len(self.unexpected_exits))
        p("queues at the end: %s; dead-lettered %d (hostile messages expecting it: %d)" % (
            "all empty" if not leftovers else "LEFT %s" % leftovers, dead,
            sum(1 for h in self.hostile if h.expect and h.expect.get("dead_letter"))))
        p("every worker serves: %s; warm shutdown exit codes %s" % (
            "yes" if not not_serving else "NO (worker %s)" % not_serving, exits))
        lost = total["lost"]
        p("lost: %d" % lost)
        expected_dead = sum(1 for h in self.hostile if h.expect and h.expect.get("dead_letter"))
        failures = []
        if lost:
            failures.append("%d task(s) lost (no terminal state)" % lost)
        if total["wrong"]:
            failures.append("%d task(s) with a wrong terminal state" % total["wrong"])
        if llm["unexplained"]:
            failures.append("%d unexplained duplicate model call(s)" % len(llm["unexplained"]))
        if self.unexpected_exits:
            failures.append("%d worker exit(s) the driver did not cause" % len(self.unexpected_exits))
        if leftovers:
            failures.append("messages left in queues: %s" % leftovers)
        resent_dead = sum(1 for h in self.hostile
                          if h.resent and h.expect and h.expect.get("dead_letter"))
        if self.unexpected_dead:
            failures.append("%d task(s) of the load dead-lettered: %s" % (
                len(self.unexpected_dead), self.unexpected_dead[:5]))
        if not expected_dead <= dead <= expected_dead + resent_dead:
            failures.append("dead-lettered %d, expected %d%s" % (
                dead, expected_dead, " to %d (re-sent)" % (expected_dead + resent_dead)
                if resent_dead else ""))
        if not_serving:
            failures.append("worker(s) %s do not serve" % not_serving)
        if any(code != 0 for code in exits):
            failures.append("warm shutdown exit codes %s" % exits)
        if llm["requests"] != llm["stub_received"]:
            failures.append("the proxy forwarded %d model calls, the llm-stub counted %d"
                            % (llm["requests"], llm["stub_received"]))
        for w in self.all_workers:  # the ASan/UBSan build runs this too
            reports = w.sanitizer_reports()
            if reports:
                failures.append("sanitizer reports in %s: %s" % (w.log_path, reports[:2]))
        if llm["unattributed"]:
            failures.append("%d model call(s) the driver cannot attribute" % llm["unattributed"])
        if llm["succeeded_without_a_call"]:
            failures.append("%d LLM task(s) succeeded with no model answer on record"
                            % len(llm["succeeded_without_a_call"]))
        failures += self.errors
        ok = not failures
        p("RESULT: %s" % ("PASS" if ok else "FAIL"))
        for f in failures:
            p("  - " + f)
        details = []
        for i, code, at, path in self.unexpected_exits[:10]:
            details.append("  EXIT worker %d code %s at %.0f s (log %s)" % (i, code, at, path))
        for tid, kind, times in llm["unexplained"]:
            details.append("  DUPLICATE %s %s: answers at %s s" % (kind, tid, times))
        for s in (load.sent + self.hostile):
            if s.verdict:
                details.append("  %s %s %s: %s" % ("LOST" if s in pending else "WRONG", s.kind,
                                                   s.id, s.verdict[:160]))
        if details:
            p("")
            p("details (first 60):")
            lines += details[:60]
        return ok, "\n".join(lines)
