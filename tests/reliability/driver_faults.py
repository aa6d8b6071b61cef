"""The faults the driver injects, and when. DriverFaults, the part of the Driver that
breaks things: SIGKILL and SIGSTOP of a worker, RabbitMQ stopped and started, Redis
killed, the broker closing every connection (a flap), every model answering 503, one API
key answering 401, and a flood of hostile corpus messages; schedule_faults spreads them
over the load phase in a seeded order, and record() notes each one (and the window in
which a worker may have lost unacked work, which explains a duplicate model call).
"""

import signal
import time
import traceback
import uuid

import corpus_lib
from driver_config import HEARTBEAT_S, KEY_A, T0, log
from driver_load import Sent, equals


def _may_park(expect):
    if "any_of" in expect:
        return any(_may_park(e) for e in expect["any_of"])
    return expect.get("outcome") == "parked"


def queue_for(built):
    task = built.headers.get("task") if isinstance(built.headers, dict) else None
    if task == "gpt5_analyzer.analyze":
        return "gpt5-analyzer"
    if task == "response_generator.generate":
        return "response-generator"
    return "celery"


class DriverFaults:
    """The Driver's faults (a mixin of fault_driver.Driver, whose __init__ sets the state
    used here)."""

    def fault_kill(self, i, pause_s):
        start = time.time()
        with self.lock:
            self.held.add(i)
            self.workers[i].kill(signal.SIGKILL)
            self.workers[i].proc.wait(timeout=10)
        time.sleep(pause_s)
        with self.lock:
            self.start_worker(i)
            self.held.discard(i)
        self.record("worker SIGKILL + restart", start, "worker %d, restarted after %.1f s"
                    % (i, pause_s))

    def fault_stop(self, i, seconds):
        start = time.time()
        with self.lock:
            self.held.add(i)
            self.workers[i].kill(signal.SIGSTOP)
        time.sleep(seconds)
        with self.lock:
            self.workers[i].kill(signal.SIGCONT)
            self.held.discard(i)
        self.record("worker SIGSTOP > heartbeat", start, "worker %d for %.0f s (heartbeat %d s)"
                    % (i, seconds, HEARTBEAT_S), grace=10)

    def fault_rabbit(self, pause_s):
        start = time.time()
        self.rabbit_down.set()
        self.rabbit.stop()
        time.sleep(pause_s)
        self.rabbit.start()
        self.rabbit_down.clear()
        self.record("RabbitMQ stop + start", start, "down %.1f s" % (time.time() - start),
                    grace=15)

    def fault_redis(self, seconds):
        start = time.time()
        self.redis.proc.kill()
        self.redis.proc.wait(timeout=10)
        time.sleep(seconds)
        self.redis.start()
        self.record("Redis down (killed)", start, "%.0f s" % seconds, grace=10)

    def fault_flap(self, times, every_s):
        """The broker closes every connection `times` times, `every_s` apart (a flapping
        link, a load balancer, an operator), while long tasks run: each close redelivers
        what was unacked, and no worker crashed, so nothing may fail as a poison message."""
        start = time.time()
        extra = []
        for _ in range(3):  # long enough to be running at every close
            tid = str(uuid.uuid4())
            s = Sent(tid, "celeriac.sleep 8 s (flap)", equals(8))
            while True:
                try:
                    self.app.send_task("celeriac.sleep", args=[8], task_id=tid, retry=False)
                    break
                except Exception:  # noqa: BLE001
                    s.resent = True
                    self.reset_pool()
                    time.sleep(0.5)
            s.sent_at = time.time()
            extra.append(s)
        with self.lock:
            self.extra_sent += extra
        time.sleep(1.5)
        closed = 0
        for n in range(times):
            out = self.rabbit.ctl("-q", "list_connections", "pid", "--no-table-headers",
                                  capture=True, check=False) or ""
            for pid in [line.strip() for line in out.splitlines() if line.strip().startswith("<")]:
                self.rabbit.ctl("close_connection", pid, "fault driver: flap", check=False)
                closed += 1
            if n + 1 < times:
                time.sleep(every_s)
        self.record("broker connections closed", start, "%d times %.1f s apart (%d closes), "
                    "3 sleep(8) tasks running" % (times, every_s, closed), grace=10)

    def answers_between(self, start, end, status):
        return sum(1 for r in self.proxy.snapshot()
                   if r.status == status and start <= r.start <= end)

    def wait_models_serving(self, since, timeout=60):
        """After a model fault: until a model answers 200 again (breakers and parked
        tasks take a while), so the next fault does not fall into the recovery."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.answers_between(since, time.time(), 200):
                return True
            time.sleep(0.2)
        return False

    def fault_models(self, seconds):
        start = time.time()
        ids = self.stub.fault(model="*", fault="status", status=503)["ids"]
        time.sleep(seconds)
        for fid in ids:
            self.stub.admin("DELETE", "/admin/faults/%d" % fid)
        cleared = time.time()
        back = self.wait_models_serving(cleared)
        self.record("every model down (503)", start, "%.0f s: %d calls answered 503; models "
                    "serving again %s" % (seconds, self.answers_between(start, cleared, 503),
                                          "after %.0f s" % (time.time() - cleared) if back
                                          else "NOT within 60 s"), disruption=False)

    def fault_key401(self, seconds):
        start = time.time()
        ids = self.stub.fault(key=KEY_A, fault="status", status=401)["ids"]
        time.sleep(seconds)
        for fid in ids:
            self.stub.admin("DELETE", "/admin/faults/%d" % fid)
        self.record("one key answering 401", start, "key-a for %.0f s: %d calls answered 401"
                    % (seconds, self.answers_between(start, time.time(), 401)),
                    disruption=False)

    def fault_flood(self, copies, with_slow):
        start = time.time()
        cases = [c for c in corpus_lib.load_cases()
                 if (with_slow or not c.slow) and not self.excluded(c)
                 and not _may_park(c.expect)]
        messages = [c for c in cases for _ in range(copies)]
        self.rng_flood.shuffle(messages)
        pub = None
        for case in messages:
            built = case.build()
            queue = queue_for(built)
            attempts = 0
            while True:
                attempts += 1
                try:
                    if pub is None:
                        pub = corpus_lib.RawPublisher(self.rabbit.url)
                    pub.publish(queue, built)
                    break
                except Exception as e:  # noqa: BLE001 - broker restarting: publish again
                    log("flood publish failed (%r); again" % e)
                    if pub is not None:
                        pub.close()
                    pub = None
                    time.sleep(1)
            s = Sent(built.result_id, "hostile:" + case.name, None)
            s.built = built
            s.resent = attempts > 1  # a failed publish may have reached the broker anyway
            s.sent_at = time.time()
            self.hostile.append(s)
        if pub is not None:
            pub.close()
        self.record("hostile flood", start, "%d messages from %d corpus cases"
                    % (len(messages), len(cases)), disruption=False)

    def excluded(self, case):
        return case.name in self.opts.exclude_case

    def record(self, kind, start, detail, grace=5, disruption=True):
        end = time.time()
        with self.lock:
            self.faults.append((kind, start - T0, end - T0, detail))
            if disruption:
                self.disruptions.append((start, end + grace))
        log("fault done: %s (%s)" % (kind, detail))

    def schedule_faults(self):
        """Serial faults (workers, broker, Redis, models) in a seeded order with seeded
        gaps; the 401 window and the flood at seeded times beside them."""
        m = self.mode
        rng = self.rng
        serial = []
        for _ in range(m["kills"]):
            serial.append(("kill", rng.randrange(2), round(rng.uniform(0.5, 3.0), 1)))
        for _ in range(m["stops"]):
            serial.append(("stop", rng.randrange(2), m["stop_s"]))
        for _ in range(m["rabbit_restarts"]):
            serial.append(("rabbit", round(rng.uniform(1.0, 4.0), 1)))
        for _ in range(m["redis_outages"]):
            serial.append(("redis", m["redis_down_s"]))
        for _ in range(m["model_outages"]):
            serial.append(("models", m["models_down_s"]))
        serial.append(("key401", m["key401_s"]))
        serial.append(("flap", 3, 1.5))
        rng.shuffle(serial)
        # Rough durations, to spread the faults over the load phase.
        est = {"kill": 4, "stop": m["stop_s"] + 1, "rabbit": 20, "redis": m["redis_down_s"] + 1,
               "models": m["models_down_s"] + 10, "key401": m["key401_s"] + 1, "flap": 12}
        busy = sum(est[f[0]] + (f[2] if f[0] == "kill" else 0) for f in serial)
        slack = max(0.0, m["load_s"] - 15 - busy)
        cuts = sorted(rng.uniform(0, slack) for _ in range(len(serial)))
        gaps = [b - a for a, b in zip([0.0] + cuts[:-1], cuts)]
        side = [("flood", rng.uniform(5, m["load_s"] * 0.7), None)]
        return serial, gaps, side

    def run_faults(self, serial, gaps):
        time.sleep(5)
        for fault, gap in zip(serial, gaps):
            if self.stop_event.wait(gap):
                return
            log("fault start: %s" % (fault,))
            try:
                if fault[0] == "kill":
                    self.fault_kill(fault[1], fault[2])
                elif fault[0] == "stop":
                    self.fault_stop(fault[1], fault[2])
                elif fault[0] == "rabbit":
                    self.fault_rabbit(fault[1])
                elif fault[0] == "redis":
                    self.fault_redis(fault[1])
                elif fault[0] == "models":
                    self.fault_models(fault[1])
                elif fault[0] == "key401":
                    self.fault_key401(fault[1])
                elif fault[0] == "flap":
                    self.fault_flap(fault[1], fault[2])
            except Exception:  # noqa: BLE001
                self.errors.append("fault %s failed: %s" % (fault, traceback.format_exc()))

    def run_side(self, kind, at, seconds):
        if self.stop_event.wait(at):
            return
        log("fault start: %s" % kind)
        try:
            self.fault_flood(self.mode["flood_copies"], self.mode["flood_slow"])
        except Exception:  # noqa: BLE001
            self.errors.append("fault %s failed: %s" % (kind, traceback.format_exc()))
