#!/usr/bin/python3
"""Fault-injection driver: a mixed Celery load against TWO celeriac workers,
RabbitMQ, Redis and the llm-stub, breaking things at random (seeded) points, then
proving that nothing was lost.

    /usr/bin/python3 tests/reliability/fault_driver.py --mode ci      # ctest, < 4 min
    /usr/bin/python3 tests/reliability/fault_driver.py --mode long    # full sizes
    ... --seed N to reproduce a run (the seed is printed first); --keep keeps the logs

The load (sent with Debian's Python Celery, publisher confirms on): celeriac.echo (some
with a countdown), celeriac.sleep, gpt5_analyzer.analyze and response_generator.generate
against the llm-stub, and chains built with celery's chain() (echo | echo | echo, and
analyze | generate). The faults, in a seeded random order at seeded random times:
  - SIGKILL of a worker, restarted after a pause;
  - SIGSTOP of a worker for longer than its AMQP heartbeat (--heartbeat 4), then SIGCONT;
  - RabbitMQ stopped and started again;
  - Redis down (killed; it runs with appendfsync always, so what was stored stays);
  - every model down (llm-stub answers 503 for every model);
  - one of the two API keys answering 401 for a while;
  - a flood of hostile messages from corpus/ (each judged by its case's expectation).
At the end every task id sent must have the right terminal state in Redis: SUCCESS with
the right value, or the FAILURE its input deserves. A logging proxy in front of the
llm-stub records which task each model call was for (the prompts carry the task id): a
task whose model answered twice must have had a fault between the two answers (a worker
killed or stopped, the broker restarted, or a client re-send), else it is reported as an
unexplained duplicate. Every worker must still serve (an echo through a queue of its
own), every queue must be empty, and no worker may have exited unless the driver did it.
The driver prints a table and exits 0 only if all of that holds (lost = 0).

The parts, one job a file beside this one: driver_config.py (modes, names, log),
driver_load.py (the load, and what each task id must end as), driver_services.py (the
servers, the workers and the client), driver_faults.py (the faults and their schedule),
driver_checks.py (judging every id, the model-call accounting) and driver_report.py (the
table and the verdict). Driver below puts them together and runs them in order.
"""

import argparse
import random
import signal
import sys
import tempfile
import threading
import time
import traceback

from driver_checks import DriverChecks
from driver_config import DEFAULT_SEED, MODES, log
from driver_faults import DriverFaults
from driver_load import Load
from driver_report import DriverReport
from driver_services import DriverServices, write_balancer_config

# write_balancer_config: tests/deploy/test_balancer_config_schema.py checks the config the
# driver writes as fault_driver.write_balancer_config.
__all__ = ["Driver", "main", "write_balancer_config"]


# --- the driver ---------------------------------------------------------------------------

class Driver(DriverServices, DriverFaults, DriverChecks, DriverReport):
    def __init__(self, opts):
        self.opts = opts
        self.mode = dict(MODES[opts.mode])
        if opts.tasks:
            self.mode["tasks"] = opts.tasks
        self.seed = opts.seed
        self.rng = random.Random(self.seed)
        self.run_dir = tempfile.mkdtemp(prefix="celeriac-driver-")
        self.faults = []            # (kind, start, end, detail)
        self.disruptions = []       # (start, end): a worker may have lost unacked work
        self.unexpected_exits = []  # (worker, exit code, time, log)
        self.workers = [None, None]
        self.all_workers = []       # every start, for the sanitizer reports in its log
        self.generations = [0, 0]
        self.held = set()           # worker indexes the driver has taken down on purpose
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.hostile = []           # Sent for each hostile message
        self.extra_sent = []        # Sent by the faults themselves (flap)
        self.errors = []            # driver-side problems (a fault that could not run...)
        self.rabbit_down = threading.Event()

    # the load

    def send_load(self, load, duration):
        n = len(load.plan)
        start = time.time()
        for k, (kind, items, send) in enumerate(load.plan):
            due = start + duration * k / n
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            attempts = 0
            while True:
                attempts += 1
                try:
                    send()
                    break
                except Exception as e:  # noqa: BLE001 - broker down: the client sends again
                    if attempts == 1 or attempts % 20 == 0:
                        log("send failed (%s: %s); sending again" % (type(e).__name__, e))
                    self.reset_pool()
                    time.sleep(0.5)
            for s in items:
                s.sent_at = time.time()
                s.resent = attempts > 1
                load.sent.append(s)

    # the run

    def run(self):
        m = self.mode
        log("mode=%s seed=%d run dir %s" % (self.opts.mode, self.seed, self.run_dir))
        self.start_services()
        self.rng_flood = random.Random(self.seed + 1)
        load = self.load = Load(self.app, random.Random(self.seed + 2), m["tasks"])
        serial, gaps, side = self.schedule_faults()
        threads = [threading.Thread(target=self.monitor, daemon=True),
                   threading.Thread(target=self.run_faults, args=(serial, gaps), daemon=True)]
        threads += [threading.Thread(target=self.run_side, args=s, daemon=True) for s in side]
        for t in threads:
            t.start()
        load_start = time.time()
        self.send_load(load, m["load_s"])
        for t in threads[1:]:
            t.join()
        load_s = time.time() - load_start
        load.sent += self.extra_sent
        log("load sent: %d ids; every fault done; draining" % len(load.sent))
        drain_start = time.time()
        pending = self.drain(load.sent + self.hostile, m["drain_s"])
        drain_s = time.time() - drain_start
        self.judge_all(load.sent + self.hostile)  # once more, every id, flips included
        not_serving = self.probe_workers()
        self.stop_event.set()
        threads[0].join()
        leftovers, dead = self.queue_leftovers()
        load_ids = {s.id for s in load.sent}
        # Only refused corpus messages belong there; a task of the load never does.
        self.unexpected_dead = [(task, tid) for task, tid in self.dead_letters()
                                if isinstance(tid, str) and tid in load_ids]
        llm = self.llm_accounting(load.sent)
        exits = []
        for i, w in enumerate(self.workers):
            exits.append(w.stop(timeout=30))
        report = self.report(load, pending, not_serving, leftovers, dead, llm, exits,
                             load_s, drain_s)
        return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="ci")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--tasks", type=int, help="override the number of task ids")
    parser.add_argument("--exclude-case", action="append", default=[],
                        help="leave a corpus case out of the flood (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory and logs")
    opts = parser.parse_args()
    # ctest's timeout and Ctrl-C: clean up the servers and workers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    print("fault driver: mode=%s seed=%d" % (opts.mode, opts.seed), flush=True)
    driver = Driver(opts)
    ok = False
    try:
        ok, text = driver.run()
        print(text, flush=True)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    finally:
        keep = opts.keep or not ok
        if keep:
            print("logs kept in %s" % driver.run_dir, flush=True)
        driver.cleanup(keep)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
