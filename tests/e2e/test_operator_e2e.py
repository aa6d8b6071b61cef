"""End-to-end parity: Celery's operator tools (the `celery` CLI's inspect/control/status,
app.control, events and events.State) against a worker, RabbitMQ and Redis on loopback.

The same tests run against either worker, chosen by CELERIAC_E2E_WORKER:

    cd tests/e2e
    CELERIAC_BIN=../../build/worker/celeriac /usr/bin/python3 -m unittest -v test_operator_e2e
    CELERIAC_E2E_WORKER=python /usr/bin/python3 -m unittest -v test_operator_e2e

`celeriac` (the default) is the binary from CELERIAC_BIN, started through
testenv.Worker; `python` is Debian's Python Celery 5.2.6 worker serving the same task
names (operator_python_app.py). Every test passes against the Python worker: what is
asserted is what Celery itself does, so a test that failed there would be testing our
reading of Celery, not the worker. Both workers get the same Celery worker argument
line (`-Q q -c N -n name@%h -E ...`); the only difference is the Python worker's pool:
`-P threads` (so -c 1000 fits), prefork where a test needs it (revoke with terminate, the
task events tests), noted there. Run it with CELERIAC_KEEP_LOGS=1 to keep the logs.
"""

import datetime
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import celery.exceptions  # noqa: E402
from celery.events.state import State  # noqa: E402

from operator_harness import (  # noqa: E402
    QUIET, EventCollector, OperatorTestCase, as_utc, unique_node, unique_queue, wait_for)


class OperatorTools(OperatorTestCase):
    # -- tests ---------------------------------------------------------------------------

    def test_01_ping_answers_within_1s_while_1000_tasks_are_in_flight(self):
        # Both workers run the 1,000 sleeps at once: celeriac with -c 1000, Python with a
        # 1,000-thread pool (-P threads; a 1,000-process prefork pool would not fit).
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "1000", "-n", node, *QUIET)
        self.addCleanup(w.kill)  # a warm shutdown would wait 30 s for the sleeps
        results = [self.send("celeriac.sleep", 30, queue=q) for _ in range(1000)]
        active = self.wait_active(w.nodename, [r.id for r in results], timeout=60)
        self.assertTrue(active, "the 1,000 sleeps never all ran:\n" + w.log[-3000:])
        self.assertEqual(len(active), 1000)

        started = time.monotonic()
        reply = self.inspect(w.nodename, timeout=1.0).ping()
        elapsed = time.monotonic() - started
        self.assertEqual(reply, {w.nodename: {"ok": "pong"}})
        self.assertLess(elapsed, 1.0)

        out = self.cli("inspect", "ping", "-d", w.nodename, "--timeout", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("->  %s: OK" % w.nodename, out.stdout)
        self.assertIn("pong", out.stdout)
        self.assertIn("1 node online.", out.stdout)
        # The pings were answered while the load was there: no sleep has finished.
        self.assertFalse(results[0].ready())

    def test_02_status_lists_the_node(self):
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET)
        out = self.cli("status", "--timeout", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "->  %s: OK\n\n1 node online.\n" % w.nodename)

    def test_03_default_node_name_is_celery_at_hostname(self):
        q = unique_queue()
        w = self.start_worker("-Q", q, "-c", "2", *QUIET)
        node = "celery@" + socket.gethostname()
        self.assertEqual(w.nodename, node)
        self.assertEqual(self.inspect(node).ping(), {node: {"ok": "pong"}})
        out = self.cli("status", "-d", node, "--timeout", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "->  %s: OK\n\n1 node online.\n" % node)

    def test_04_inspect_commands(self):
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "1", "-n", node, *QUIET)
        self.addCleanup(w.kill)  # do not wait for the sleeps
        node = w.nodename
        for i in range(2):
            self.assertEqual(self.send("celeriac.echo", i, queue=q).get(timeout=10), i)
        running = self.send("celeriac.sleep", 30, queue=q)
        waiting = self.send("celeriac.sleep", 30, queue=q)  # -c 1: prefetched, not run
        before = datetime.datetime.now(datetime.timezone.utc)
        # Within celeriac's --eta-hold-limit (10 s), so it is held in memory as Python
        # holds every ETA task; a farther one waits in a delay queue in RabbitMQ (not in
        # the worker) and is not listed: a difference README names.
        later = self.send("celeriac.echo", "later", queue=q, countdown=8)
        after = datetime.datetime.now(datetime.timezone.utc)
        i = self.inspect(node)
        # First, while its countdown still runs.
        scheduled = wait_for(lambda: (i.scheduled() or {}).get(node), 10)
        self.assertEqual(len(scheduled), 1, scheduled)
        self.assertEqual((scheduled[0]["request"]["id"], scheduled[0]["request"]["name"],
                          scheduled[0]["request"]["args"]), (later.id, "celeriac.echo", ["later"]))
        eta = as_utc(scheduled[0]["eta"])
        self.assertGreaterEqual(eta, before + datetime.timedelta(seconds=8) -
                                datetime.timedelta(milliseconds=1))
        self.assertLessEqual(eta, after + datetime.timedelta(seconds=8))

        active = self.wait_active(node, [running.id])
        self.assertTrue(active, w.log[-3000:])
        self.assertEqual(len(active), 1, active)
        info = active[0]
        self.assertEqual((info["id"], info["name"], info["args"], info["kwargs"]),
                         (running.id, "celeriac.sleep", [30], {}))
        self.assertEqual(info["hostname"], node)
        self.assertEqual(info["delivery_info"]["routing_key"], q)
        # Python says True (acked when it starts, Celery's default); a worker that acks
        # late (task_acks_late, as celeriac does: never before the result is stored)
        # says False. Both are Celery's answers, so only the type is checked.
        self.assertIsInstance(info["acknowledged"], bool)

        reserved = wait_for(lambda: (i.reserved() or {}).get(node), 10)
        self.assertEqual([(r["id"], r["name"], r["args"]) for r in reserved],
                         [(waiting.id, "celeriac.sleep", [30])])
        self.assertIsNone(reserved[0]["time_start"])

        registered = i.registered()[node]
        self.assertLessEqual({"celeriac.echo", "celeriac.sleep", "celeriac.fail"},
                             {entry.split(" [")[0] for entry in registered})
        self.assertEqual(registered, sorted(registered))

        stats = i.stats()[node]
        self.assertEqual(stats["total"]["celeriac.echo"], 2)
        self.assertEqual(stats["pool"]["max-concurrency"], 1)
        self.assertEqual(stats["pid"], w.pid)
        self.assertIsInstance(stats["prefetch_count"], int)
        self.assertIsInstance(stats["uptime"], int)

        self.assertIn(q, [queue["name"] for queue in i.active_queues()[node]])

        tasks = i.query_task(running.id, waiting.id)[node]
        self.assertEqual(tasks[running.id][0], "active")
        self.assertEqual(tasks[running.id][1]["id"], running.id)
        self.assertEqual(tasks[waiting.id][0], "reserved")

        clock = i.clock()[node]
        self.assertEqual(list(clock), ["clock"])
        self.assertIsInstance(clock["clock"], int)
        conf = i.conf()[node]
        self.assertIsInstance(conf, dict)
        self.assertNotIn(":guest@", json.dumps(conf), "conf shows the broker password")
        report = i.report()[node]
        self.assertEqual(list(report), ["ok"])
        self.assertIsInstance(report["ok"], str)

        # The same through the CLI, as an operator types it.
        out = self.cli("inspect", "active", "-d", node, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([t["id"] for t in json.loads(out.stdout)[node]], [running.id])

    def test_05_revoke_with_terminate_ends_a_running_task(self):
        # Python's threads pool cannot terminate a job (it replies NotImplementedError),
        # so the Python worker runs prefork here; celeriac cancels the running task.
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET, python_pool="prefork")
        r = self.send("celeriac.sleep", 60, queue=q)
        self.assertTrue(self.wait_active(w.nodename, [r.id]), w.log[-3000:])
        reply = self.control(w.nodename, "revoke", task_id=r.id, terminate=True,
                             signal="SIGTERM")
        self.assertEqual(reply, {"ok": "terminate: %s" % r.id})
        self.assertTrue(self.wait_state(r, "REVOKED", timeout=10), (r.state, w.log[-3000:]))
        with self.assertRaises(celery.exceptions.TaskRevokedError):
            r.get(timeout=5)
        self.assertEqual(self.send("celeriac.echo", "after", queue=q).get(timeout=10), "after")
        # Python stores REVOKED as it signals the child; the task leaves `active` once
        # the pool has seen the child's job end, a moment later.
        self.assertTrue(wait_for(lambda: (self.inspect(w.nodename).active() or {})
                                 .get(w.nodename) == [], 10),
                        self.inspect(w.nodename).active())

    def test_06_task_revoked_before_it_arrives_never_runs(self):
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET)
        task_id = str(uuid.uuid4())
        self.assertEqual(self.control(w.nodename, "revoke", task_id=task_id),
                         {"ok": "tasks %s flagged as revoked" % task_id})
        self.assertIn(task_id, self.inspect(w.nodename).revoked()[w.nodename])
        r = self.app.send_task("celeriac.echo", args=["must not run"], queue=q,
                               task_id=task_id)
        self.assertTrue(self.wait_state(r, "REVOKED"), (r.state, w.log[-3000:]))
        with self.assertRaises(celery.exceptions.TaskRevokedError):
            r.get(timeout=5)
        # A later echo has run, so the revoked one was handled, and not run after all.
        self.assertEqual(self.send("celeriac.echo", "next", queue=q).get(timeout=10), "next")
        self.assertEqual(r.state, "REVOKED")
        self.assertEqual(self.inspect(w.nodename).stats()[w.nodename]["total"],
                         {"celeriac.echo": 1})

    def test_07_add_consumer_and_cancel_consumer(self):
        q, q2, node = unique_queue(), unique_queue("op2"), unique_node()
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET)
        node = w.nodename

        def consumed_queues():
            return [x["name"] for x in (self.inspect(node).active_queues() or {}).get(node, [])]

        self.assertEqual(self.control(node, "add_consumer", queue=q2),
                         {"ok": "add consumer %s" % q2})
        self.assertTrue(wait_for(lambda: q2 in consumed_queues(), 10), consumed_queues())
        self.assertEqual(self.send("celeriac.echo", "via q2", queue=q2).get(timeout=10), "via q2")

        self.assertEqual(self.control(node, "cancel_consumer", queue=q2),
                         {"ok": "no longer consuming from %s" % q2})
        self.assertTrue(wait_for(lambda: q2 not in consumed_queues(), 10), consumed_queues())
        self.assertIn(q, consumed_queues())
        stranded = self.send("celeriac.echo", "stays", queue=q2)
        # The worker still serves q; once it has, the q2 message is still waiting there.
        self.assertEqual(self.send("celeriac.echo", "via q", queue=q).get(timeout=10), "via q")
        self.assertTrue(wait_for(lambda: self.queue_info(q2)[0] == 1, 10), self.queue_info(q2))
        self.assertEqual(self.queue_info(q2), (1, 0))  # one message, no consumer
        self.assertEqual(stranded.state, "PENDING")

    def test_08_rate_limit_paces_the_task(self):
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "4", "-n", node, *QUIET)
        self.assertEqual(self.control(w.nodename, "rate_limit", task_name="celeriac.echo",
                                      rate_limit="60/m"),
                         {"ok": "new rate limit set successfully"})
        self.assertEqual(self.control(w.nodename, "rate_limit", task_name="no.such.task",
                                      rate_limit="60/m"),
                         {"error": "unknown task"})
        self.assertIn("celeriac.echo [rate_limit=60/m]",
                      self.inspect(w.nodename).registered()[w.nodename])
        sent = time.time()
        results = [self.send("celeriac.echo", n, queue=q) for n in range(4)]
        self.assertEqual([r.get(timeout=30) for r in results], [0, 1, 2, 3])
        elapsed = time.time() - sent
        done = sorted(as_utc(r.date_done) for r in results)
        # 60/m is one a second: the 2nd, 3rd and 4th wait 1 s each after the 1st. 2.0 s is
        # a lower bound that no machine, however slow, can break.
        self.assertGreaterEqual((done[-1] - done[0]).total_seconds(), 2.0, done)
        self.assertGreaterEqual(elapsed, 2.0)

    def test_09_shutdown_lets_the_running_task_finish_then_exits(self):
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET)
        r = self.send("celeriac.sleep", 2, queue=q)
        self.assertTrue(self.wait_active(w.nodename, [r.id]), w.log[-3000:])
        # shutdown is never answered, even when a reply is asked for.
        self.assertEqual(self.app.control.shutdown(reply=True, destination=[w.nodename],
                                                   timeout=1), [])
        rc = w.wait_exit(30)
        self.assertEqual(rc, 0, w.log[-3000:])  # Python 5.2.6 exits 0 as well
        self.assertEqual(r.state, "SUCCESS")
        self.assertEqual(r.get(timeout=5), 2)

    def test_10_events_received_started_succeeded_and_heartbeats(self):
        q, node = unique_queue(), unique_node()
        # -E, and heartbeats on (no --without-heartbeat). The Python worker runs prefork
        # in both events tests: with -P threads, Celery 5.2.6 now and then loses a
        # task-started event (the pool thread appends it to the dispatcher's task-event
        # buffer while the event loop is publishing and clearing that buffer; seen here
        # as received, succeeded with no started). Prefork reports starts to the main
        # process, so nothing races.
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, "-E", *QUIET,
                              python_pool="prefork")
        node = w.nodename
        events = EventCollector(self.app, self.rabbit.url).start()
        self.addCleanup(events.stop)
        r = self.send("celeriac.echo", "hi", queue=q)
        self.assertEqual(r.get(timeout=10), "hi")
        self.assertTrue(events.wait(lambda evs: any(e["type"] == "task-succeeded" and
                                                    e.get("uuid") == r.id for e in evs), 10),
                        events.snapshot())
        mine = events.of(r.id)
        self.assertEqual([e["type"] for e in mine],
                         ["task-received", "task-started", "task-succeeded"])
        self.assertEqual({e["hostname"] for e in mine}, {node})
        self.assertEqual(mine[0]["name"], "celeriac.echo")
        self.assertEqual(mine[2]["result"], repr("hi"))

        # The first heartbeat may be the one the receiver's wakeup asked for; the next
        # two are the periodic ones, 2 s apart.
        self.assertTrue(wait_for(lambda: len(events.heartbeats(node)) >= 3, 15),
                        events.snapshot())
        beats = events.heartbeats(node)
        gap = beats[2]["timestamp"] - beats[1]["timestamp"]
        self.assertTrue(1.0 <= gap <= 3.0, gap)
        self.assertEqual(beats[2]["freq"], 2.0)

        state = State()
        for e in events.snapshot():
            state.event(e)
        self.assertEqual(state.tasks[r.id].state, "SUCCESS")
        self.assertEqual(state.tasks[r.id].name, "celeriac.echo")
        self.assertTrue(state.workers[node].alive)
        self.assertIsNone(events.error)

    def test_11_enable_and_disable_events(self):
        q, node = unique_queue(), unique_node()
        # No -E. Prefork for the Python worker: see the events test above.
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET, python_pool="prefork")
        node = w.nodename
        events = EventCollector(self.app, self.rabbit.url).start()
        self.addCleanup(events.stop)

        def succeeded(task_id):
            return events.wait(lambda evs: any(e["type"] == "task-succeeded" and
                                               e.get("uuid") == task_id for e in evs), 10)

        quiet = self.send("celeriac.echo", "no events", queue=q)
        self.assertEqual(quiet.get(timeout=10), "no events")
        self.assertEqual(self.control(node, "enable_events"), {"ok": "task events enabled"})
        self.assertEqual(self.control(node, "enable_events"),
                         {"ok": "task events already enabled"})
        loud = self.send("celeriac.echo", "events", queue=q)
        self.assertEqual(loud.get(timeout=10), "events")
        self.assertTrue(succeeded(loud.id), events.snapshot())
        self.assertEqual([e["type"] for e in events.of(loud.id)],
                         ["task-received", "task-started", "task-succeeded"])
        # Events go out in order, so any for the first task would have come before these.
        self.assertEqual(events.of(quiet.id), [])

        self.assertEqual(self.control(node, "disable_events"), {"ok": "task events disabled"})
        self.assertEqual(self.control(node, "disable_events"),
                         {"ok": "task events already disabled"})
        quiet2 = self.send("celeriac.echo", "no events again", queue=q)
        self.assertEqual(quiet2.get(timeout=10), "no events again")
        # The same barrier: switch them on again and wait for a later task's events.
        self.assertEqual(self.control(node, "enable_events"), {"ok": "task events enabled"})
        probe = self.send("celeriac.echo", "probe", queue=q)
        self.assertEqual(probe.get(timeout=10), "probe")
        self.assertTrue(succeeded(probe.id), events.snapshot())
        self.assertEqual(events.of(quiet2.id), [])

    def test_12_celery_worker_argument_line_starts_and_serves(self):
        q = unique_queue()
        w = self.start_worker("-E", "--without-gossip", "--without-mingle",
                              "--without-heartbeat", "-O", "fair", "-Q", q, "-c", "100",
                              control=False)
        self.assertEqual(self.send("celeriac.echo", "argv", queue=q).get(timeout=15), "argv")
        self.assertTrue(w.alive(), w.log[-3000:])

    def test_13_unknown_control_command_gets_an_error_reply(self):
        q, node = unique_queue(), unique_node()
        w = self.start_worker("-Q", q, "-c", "2", "-n", node, *QUIET)
        replies = self.app.control.broadcast("no_such_command", reply=True,
                                             destination=[w.nodename], timeout=1)
        self.assertEqual(replies, [{w.nodename: {"error": "KeyError('no_such_command')"}}])
        self.assertEqual(self.inspect(w.nodename).ping(), {w.nodename: {"ok": "pong"}})
        self.assertTrue(w.alive())

    def test_14_statedb_keeps_revokes_across_a_restart(self):
        q, node = unique_queue(), unique_node()
        statedir = tempfile.mkdtemp(prefix="celeriac-statedb-")
        self.addCleanup(shutil.rmtree, statedir, ignore_errors=True)
        line = ("-Q", q, "-c", "2", "-n", node, "--statedb",
                os.path.join(statedir, "worker.state")) + QUIET
        first = self.start_worker(*line)
        task_id = str(uuid.uuid4())
        self.assertEqual(self.control(first.nodename, "revoke", task_id=task_id),
                         {"ok": "tasks %s flagged as revoked" % task_id})
        self.assertEqual(first.stop(), 0, first.log[-3000:])

        second = self.start_worker(*line)
        self.assertIn(task_id, self.inspect(second.nodename).revoked()[second.nodename])
        r = self.app.send_task("celeriac.echo", args=["must not run"], queue=q,
                               task_id=task_id)
        self.assertTrue(self.wait_state(r, "REVOKED"), (r.state, second.log[-3000:]))
        self.assertEqual(self.send("celeriac.echo", "next", queue=q).get(timeout=10), "next")
        self.assertEqual(r.state, "REVOKED")
        self.assertEqual(self.inspect(second.nodename).stats()[second.nodename]["total"],
                         {"celeriac.echo": 1})


if __name__ == "__main__":
    unittest.main()
