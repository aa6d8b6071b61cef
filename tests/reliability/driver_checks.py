"""The fault driver's checks after the load: DriverChecks, the part of the Driver that
reads every task id's result from Redis and judges it (also against the first terminal
state a client saw published), waits a bounded time for the stragglers, checks that each
worker still serves, attributes every model call the proxy recorded to its task and tells
a duplicate a fault explains from one nothing explains, and reads what was dead-lettered
or left in a queue.
"""

import collections
import json
import os
import time
import uuid

import corpus_lib
from driver_config import DEAD, T0


class DriverChecks:
    """The Driver's checks (a mixin of fault_driver.Driver, whose __init__ sets the state
    used here)."""

    def states(self, sents):
        """Reads the result documents of `sents` in batches."""
        docs = {}
        ids = [s.id for s in sents if s.id]
        for k in range(0, len(ids), 500):
            batch = ids[k:k + 500]
            raws = self.redis_client.mget([corpus_lib.result_key(i) for i in batch])
            for i, raw in zip(batch, raws):
                docs[i] = None if raw is None else corpus_lib.loads(raw)
        return docs

    def judge_all(self, sents):
        """Sets each Sent's verdict (None = right) from Redis; returns the documents."""
        docs = self.states(sents)
        for s in sents:
            doc = docs.get(s.id) if s.id else None
            if s.kind.startswith("hostile:"):
                problems, matched = corpus_lib.judge(s.built.case.expect, s.built, doc)
                s.verdict = "; ".join(problems) if problems else None
                s.expect = matched
            else:
                s.verdict = s.expect(doc)
            if s.verdict is None and doc and s.id:
                first = self.watcher.first_terminal(s.id)
                if first and first[0] != doc.get("status"):
                    s.verdict = ("a client's get() saw %s (%s) published first; the final "
                                 "state is %s" % (first[0], first[1], doc.get("status")))
        return docs

    def drain(self, everything, seconds):
        """Waits (bounded) until every id has a terminal state; returns those that do not
        (the lost ones)."""
        deadline = time.time() + seconds
        remaining = list(everything)
        while True:
            docs = self.judge_all(remaining)
            remaining = [s for s in remaining if s.verdict]
            pending = [s for s in remaining
                       if s.id and (docs.get(s.id) is None
                                    or docs[s.id].get("status") in ("PENDING", "RETRY",
                                                                     "STARTED"))]
            if not pending or time.time() >= deadline:
                return pending
            time.sleep(1)

    def probe_workers(self):
        """Each worker answers an echo through its own queue."""
        ok = {}
        ids = {}
        for i in range(2):
            tid = str(uuid.uuid4())
            ids[i] = tid
            for _ in range(20):
                try:
                    self.app.send_task("celeriac.echo", args=["probe %d" % i], task_id=tid,
                                  queue="driver-probe-%d" % i, retry=False)
                    break
                except Exception:  # noqa: BLE001
                    self.reset_pool()
                    time.sleep(0.5)
        deadline = time.time() + 30
        while time.time() < deadline and len(ok) < 2:
            for i, tid in ids.items():
                doc = corpus_lib.read_result(self.redis_client, tid)
                if doc and doc.get("status") == "SUCCESS" and doc.get("result") == "probe %d" % i:
                    ok[i] = True
            time.sleep(0.2)
        return [i for i in range(2) if i not in ok]

    def llm_accounting(self, load_sent):
        by_id = {s.id: s for s in load_sent + self.hostile if s.id}
        calls = collections.defaultdict(list)
        unattributed = 0
        statuses = collections.Counter()
        records = self.proxy.snapshot()
        with open(os.path.join(self.run_dir, "llm-calls.jsonl"), "w") as f:
            for r in records:
                f.write(json.dumps({"start": round(r.start - T0, 3),
                                    "end": round(r.end - T0, 3) if r.end else None,
                                    "status": r.status, "key": r.key, "path": r.path,
                                    "markers": r.markers}) + "\n")
        for r in records:
            statuses[r.status] += 1
            g = [tid for kind, tid in r.markers if kind == "g"]
            a = [tid for kind, tid in r.markers if kind in "ac"]
            # A generation prompt embeds the analysis, which may quote the analysis hint.
            owners = set(g) if g else set(a)
            if not owners:
                unattributed += 1
            for tid in owners:
                calls[tid].append(r)
        duplicates, unexplained = [], []
        for tid, rs in calls.items():
            ok = sorted(r.end for r in rs if r.status == 200)
            if len(ok) <= 1:
                continue
            s = by_id.get(tid)
            duplicates.append(tid)
            if not self.duplicate_explained(s, ok, calls):
                unexplained.append((tid, s.kind if s else "?", [round(t - T0, 1) for t in ok]))
        missing = [s.id for s in load_sent
                   if ("analyze" in s.kind or "generate" in s.kind) and s.verdict is None
                   and not [r for r in calls.get(s.id, []) if r.status == 200]]
        return {"requests": len(records), "statuses": statuses, "unattributed": unattributed,
                "duplicates": duplicates, "unexplained": unexplained,
                "succeeded_without_a_call": missing,
                "stub_received": self.stub.stats()["totals"]["received"]}

    def duplicate_explained(self, s, ok_times, calls):
        if s is None:
            return False
        if s.resent:
            return True
        lo, hi = ok_times[0] - 30, ok_times[-1]
        if any(start <= hi and end >= lo for start, end in self.disruptions):
            return True
        # A chain step runs again when the step before it ran again (its copy publishes
        # the same next step, with the same id).
        p = s.parent
        while p is not None:
            if p.resent or len([r for r in calls.get(p.id, []) if r.status == 200]) > 1:
                return True
            if p.kind.startswith("chain echo"):
                break
            p = p.parent
        return False

    def dead_letters(self):
        """(task, id) of every message in the dead-letter queue (taken off it)."""
        out = []
        pub = corpus_lib.RawPublisher(self.rabbit.url)
        try:
            while True:
                msg = pub.channel.basic_get(DEAD, no_ack=True)
                if msg is None:
                    return out
                headers = msg.headers or {}
                out.append((headers.get("task"), headers.get("id")))
        finally:
            pub.close()

    def queue_leftovers(self):
        out = self.rabbit.ctl("-q", "list_queues", "name", "messages_ready",
                              "messages_unacknowledged", "--no-table-headers", capture=True)
        left, dead = {}, 0
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            name, ready, unacked = parts[0], int(parts[1]), int(parts[2])
            if name == DEAD:
                dead = ready + unacked
            elif ready or unacked:
                left[name] = (ready, unacked)
        return left, dead
