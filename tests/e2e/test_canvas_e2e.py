"""End-to-end canvas: chords (native on Redis: no celery.chord_unlock task), groups and
chains nested in each other, link_error, celery.map and chunks, with real Python Celery
as the client and a real Python Celery worker (canvas_python_app.py, queue `py`)
running the Python steps.

Runs against either worker for the celeriac task names, chosen by CELERIAC_E2E_WORKER:

    cd tests/e2e
    CELERIAC_BIN=../../build/worker/celeriac /usr/bin/python3 -m unittest -v test_canvas_e2e
    CELERIAC_E2E_WORKER=python /usr/bin/python3 -m unittest -v test_canvas_e2e

With `python`, one Python worker serves every queue, so each test first holds for
Celery itself. One stack (RabbitMQ, Redis, llm-stub, the workers) serves the module.
"""

import datetime
import gc
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import redis as redis_py  # noqa: E402
from celery import Celery, chain, chord, chunks, group  # noqa: E402
from celery.exceptions import ChordError  # noqa: E402
from celery.result import result_from_tuple  # noqa: E402

import testenv  # noqa: E402

os.environ.setdefault("STUB_API_KEY", "sk-stub-e2e-not-a-real-key")
WORKER_KIND = os.environ.get("CELERIAC_E2E_WORKER", "celeriac")
PYTHON = "/usr/bin/python3"
IMAGE = "https://example.com/uploads/photo-123.jpg"
CAPTURE = os.environ.get("CELERIAC_MON1_CAPTURE",
                         os.path.join(HERE, "..", "..", "schemas", "fixtures", "celery",
                                      "mon1.txt"))
ROUTES = {"pyapp.*": {"queue": "py"}, "celeriac.*": {"queue": "celeriac"},
          "celery.*": {"queue": "celeriac"}, "gpt5_analyzer.*": {"queue": "gpt5-analyzer"}}
STACK = {}


def start_python_worker(queues):
    fd, log_path = tempfile.mkstemp(prefix="celery-canvas-worker-", suffix=".log")
    os.close(fd)
    env = dict(os.environ, CELERIAC_E2E_BROKER=STACK["rabbit"].url,
               CELERIAC_E2E_BACKEND=STACK["redis"].url)
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "canvas_python_app", "worker", "-P", "threads", "-c", "4",
         "-Q", queues, "-n", "canvas-py@%h", "--without-mingle", "--without-gossip", "-l", "info"],
        cwd=HERE, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        with open(log_path, errors="replace") as f:
            if " ready." in f.read():
                return proc, log_path
        time.sleep(0.1)
    raise RuntimeError("python worker did not start: " + open(log_path).read()[-3000:])


def setUpModule():
    STACK["dir"] = tempfile.mkdtemp(prefix="celeriac-canvas-")
    STACK["rabbit"] = testenv.RabbitServer().start()
    STACK["redis"] = testenv.RedisServer().start()
    if WORKER_KIND == "python":
        # "celery" too: Python's celery.chunks task routes its starmaps by the signature
        # dict it got (task_name_from()), which matches no route: the default queue.
        STACK["python"] = start_python_worker("py,celeriac,gpt5-analyzer,celery")
        return
    if WORKER_KIND != "celeriac":
        raise ValueError("CELERIAC_E2E_WORKER must be celeriac or python")
    STACK["python"] = start_python_worker("py")
    STACK["stub"] = testenv.LlmStub().start()
    config = testenv.write_stub_llm_config(STACK["dir"], STACK["stub"])
    worker = testenv.Worker(STACK["rabbit"].url, STACK["redis"].url, ["celeriac", "gpt5-analyzer"],
                            extra=["--llm-config", config, "--task-routes",
                                   "pyapp.*=py,celeriac.*=celeriac,celery.*=celeriac"],
                            concurrency=20).start()
    STACK["celeriac"] = worker
    if not worker.wait_log("broker connected", timeout=30):
        raise RuntimeError(worker.log_text())


def tearDownModule():
    gc.collect()  # AsyncResults freed while Redis still answers
    if "celeriac" in STACK:
        STACK["celeriac"].stop(timeout=20)
        STACK["celeriac"].cleanup()
    if "python" in STACK:
        proc, log_path = STACK["python"]
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not os.environ.get("CELERIAC_KEEP_LOGS"):
            os.unlink(log_path)
    if "stub" in STACK:
        STACK["stub"].stop()
    STACK["redis"].cleanup()
    STACK["rabbit"].cleanup()


def client():
    app = Celery(broker=STACK["rabbit"].url, backend=STACK["redis"].url)
    app.conf.task_routes = ROUTES
    return app


def logs():
    text = ""
    if "celeriac" in STACK:
        text += STACK["celeriac"].log_text()[-3000:]
    if "python" in STACK:
        with open(STACK["python"][1], errors="replace") as f:
            text += f.read()[-3000:]
    return text


class Canvas(unittest.TestCase):
    def setUp(self):
        self.app = client()
        self.addCleanup(self.app.close)
        self.addCleanup(gc.collect)

    def s(self, name, *args, **kwargs):
        return self.app.signature(name, args=args, kwargs=kwargs)

    def get(self, result, timeout=30):
        try:
            return result.get(timeout=timeout)
        except TimeoutError:
            self.fail("timed out; logs:\n" + logs())

    def test_chord_of_five_analyses_with_a_python_body(self):
        header = [self.s("gpt5_analyzer.analyze", image=IMAGE, user_id="u%d" % i) for i in range(5)]
        res = chord(header)(self.s("pyapp.collect"))
        body_value = self.get(res)
        members = [self.app.AsyncResult(r.id).get(timeout=5) for r in res.parent.results]
        self.assertEqual(len(body_value), 5)
        self.assertEqual(body_value, members)

    def test_chord_with_a_mixed_header_completes_either_way_round(self):
        header = [self.s("pyapp.add", 1, 1), self.s("celeriac.echo", 5), self.s("pyapp.add", 2, 2),
                  self.s("celeriac.echo", [7]),
                  chain(self.s("celeriac.echo", 3), self.s("pyapp.add", 10)),
                  chain(self.s("pyapp.add", 1, 1), self.s("celeriac.echo"))]
        expected = [2, 5, 4, [7], 13, 2]
        self.assertEqual(self.get(chord(header)(self.s("celeriac.echo"))), expected)
        self.assertEqual(self.get(chord(header)(self.s("pyapp.collect"))), expected)

    def test_chord_whose_header_holds_groups(self):
        # A group in the header is unrolled by the client (Celery 5.2 gives its members
        # reversed group indexes); a chain ending in a group makes Python save the
        # header's GroupResult, and the body gets that group's results as a list.
        flat = [group(self.s("celeriac.echo", 1), self.s("pyapp.add", 2, 2)),
                self.s("celeriac.echo", 3)]
        self.assertEqual(self.get(chord(flat)(self.s("pyapp.collect"))), [4, 1, 3])
        nested = [chain(self.s("celeriac.echo", 1),
                        group(self.s("celeriac.echo"), self.s("pyapp.add", 2))),
                  self.s("celeriac.echo", 3)]
        self.assertEqual(self.get(chord(nested)(self.s("pyapp.collect"))), [[1, 3], 3])

    def test_chord_applied_by_a_worker_gives_a_group_members_results_as_one_list(self):
        # A chain step that is a chord is applied by the worker that ran the step before
        # it (celeriac after celeriac.echo, Python after pyapp.add). A header member
        # ending in a group makes that worker save the header's GroupResult, as Python's
        # apply_chord() does, so the body gets the group's results as one inner list;
        # the chord's .j/.t/.s keys go once it completed.
        def si(name, *args):
            return self.app.signature(name, args=args, immutable=True)

        r = redis_py.Redis.from_url(STACK["redis"].url)
        for first in ("celeriac.echo", "pyapp.add"):
            for body in ("pyapp.collect", "celeriac.echo"):
                header = [chain(si("celeriac.echo", 1),
                                group(self.s("celeriac.echo"), self.s("pyapp.add", 2))),
                          si("pyapp.add", 3, 0)]
                res = chain(si(first, 0, 0), chord(header, self.s(body))).apply_async()
                self.assertEqual(self.get(res), [[1, 3], 3], (first, body))
                # The saved group naming the plain member (Python's worker applies the
                # chord under a new group id, not the one the client froze).
                member_id = res.parent.results[1].id
                saved = [k.decode() for k in r.scan_iter("celery-taskset-meta-*")
                         if not k.endswith((b".j", b".t", b".s"))
                         and member_id in (r.get(k) or b"").decode()]
                self.assertEqual(len(saved), 1, (first, body, saved))
                keys = [saved[0] + suffix for suffix in (".j", ".t", ".s")]
                deadline = time.time() + 10  # Python deletes them just after sending the body
                while r.exists(*keys) and time.time() < deadline:
                    time.sleep(0.05)
                self.assertEqual(r.exists(*keys), 0, (first, body))

    def test_chord_with_a_python_header_and_a_celeriac_body(self):
        header = [self.s("pyapp.add", i, i) for i in range(3)]
        self.assertEqual(self.get(chord(header)(self.s("celeriac.echo"))), [0, 2, 4])

    def test_failed_member_fails_the_body_with_chord_error_and_calls_its_errback(self):
        marker = "chord-%d" % time.time_ns()
        body = self.s("pyapp.collect").on_error(self.s("pyapp.record_errback", marker=marker))
        header = [self.s("celeriac.echo", 1), self.s("celeriac.fail", "boom"),
                  self.s("pyapp.add", 1, 2)]
        res = chord(header)(body)
        failed_id = res.parent.results[1].id
        with self.assertRaises(ChordError) as ctx:
            # The body's own result (res.get() would re-raise the member's error first).
            self.app.AsyncResult(res.id).get(timeout=30)
        self.assertIn("Dependency %s raised RuntimeError('boom')" % failed_id, str(ctx.exception))
        self.assertEqual(self.app.AsyncResult(res.id).state, "FAILURE")
        r = redis_py.Redis.from_url(STACK["redis"].url)
        got = r.blpop("canvas-errbacks:" + marker, timeout=20)
        self.assertIsNotNone(got, "the chord body's errback never ran:\n" + logs())
        self.assertEqual(got[1].decode(), res.id)

    def test_expired_member_fails_the_body_with_chord_error(self):
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        header = [self.s("celeriac.echo", 1).set(expires=past), self.s("celeriac.echo", 2)]
        res = chord(header)(self.s("pyapp.collect"))
        expired_id = res.parent.results[0].id
        with self.assertRaises(ChordError) as ctx:
            self.app.AsyncResult(res.id).get(timeout=30)
        self.assertIn("Dependency %s raised TaskRevokedError('expired')" % expired_id,
                      str(ctx.exception))

    def test_chain_group_chain_completes_with_the_right_value(self):
        canvas = chain(self.s("celeriac.echo", 1),
                       group(chain(self.s("pyapp.add", 10), self.s("celeriac.echo")),
                             self.s("celeriac.echo"),
                             self.app.signature("celeriac.echo", args=(99,), immutable=True)),
                       self.s("pyapp.collect"))
        self.assertEqual(self.get(canvas.apply_async()), [11, 1, 99])

    def test_map_and_chunks_over_echo(self):
        echo = self.app.signature("celeriac.echo")
        mapped = self.app.signature("celery.map", kwargs={"task": echo, "it": [1, [2], "x"]})
        self.assertEqual(self.get(mapped.apply_async()), [1, [2], "x"])
        starmap = self.app.signature("celery.starmap", kwargs={"task": echo, "it": [[1, 2], [3]]})
        self.assertEqual(self.get(starmap.apply_async()), [[1, 2], 3])
        res = chunks(echo, [(1,), (2,), (3,), (4, 5)], 3).apply_async()
        self.assertEqual(self.get(res), [[1, 2, 3], [[4, 5]]])
        # The celery.chunks task itself: the worker publishes the group of starmaps and
        # returns its GroupResult, stored as the result tuple.
        task = self.app.signature("celery.chunks",
                                  kwargs={"task": echo, "it": list(zip([1, 2, 3], "abc")), "n": 2})
        res = task.apply_async()
        returned = self.get(res)
        # The stored children name the same group; the client registered those result
        # objects when it read them (a second object for one id would never be told).
        group_result = res.children[0]
        self.assertEqual(result_from_tuple(returned, self.app).as_tuple(), group_result.as_tuple())
        self.assertEqual(len(group_result.results), 2)
        self.assertEqual(group_result.join(timeout=30), [[[1, "a"], [2, "b"]], [[3, "c"]]])

    def test_accumulate_and_backend_cleanup(self):
        self.assertEqual(self.get(self.s("celery.accumulate", 1, [2], 3).apply_async()), [1, [2], 3])
        self.assertEqual(self.get(self.s("celery.accumulate", 1, [2], 3, index=1).apply_async()), [2])
        self.assertIsNone(self.get(self.s("celery.backend_cleanup").apply_async()))

    def test_link_fires_on_a_success(self):
        callback_id = "link-%d" % time.time_ns()
        res = self.s("celeriac.echo", 3).apply_async(
            link=self.s("pyapp.add", 4).set(task_id=callback_id))
        self.assertEqual(self.get(res), 3)
        self.assertEqual(self.get(self.app.AsyncResult(callback_id)), 7)

    def test_link_error_fires_on_a_failure(self):
        marker = "link-%d" % time.time_ns()
        res = self.s("celeriac.fail", "no").apply_async(
            link_error=self.s("pyapp.record_errback", marker=marker))
        with self.assertRaises(RuntimeError):
            res.get(timeout=30)
        r = redis_py.Redis.from_url(STACK["redis"].url)
        got = r.blpop("canvas-errbacks:" + marker, timeout=20)
        self.assertIsNotNone(got, "link_error never ran:\n" + logs())
        self.assertEqual(got[1].decode(), res.id)


LINE = re.compile(r'^(\S+) \[(\d+) ([^\]]+)\] (.*)$')
ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse_monitor(lines):
    """(client, [args...]) per MONITOR line, arguments unescaped."""
    out = []
    for line in lines:
        m = LINE.match(line.strip())
        if not m:
            continue
        args = [re.sub(r'\\(.)', r'\1', a) for a in ARG.findall(m.group(4))]
        if args:
            out.append((m.group(3), args))
    return out


def member_sequences(commands, member_ids, group_id):
    """The commands each chord member's worker sent, with ids normalised: per member,
    [[command, key, extra args...]] in order. Transactions and script calls are framing
    (Python pipelines with MULTI/EXEC, celeriac runs the same commands in one script), so
    MULTI, EXEC, EVAL and EVALSHA are left out."""
    workers = {c for c, args in commands if args[0].upper() in ("ZADD", "EVALSHA", "EVAL")}
    workers.add("lua")
    seqs = {tid: [] for tid in member_ids}
    current = None

    def norm(text):
        for i, tid in enumerate(member_ids):
            text = text.replace(tid, "<T>")
        return text.replace(group_id, "<G>")

    for client_addr, args in commands:
        name = args[0].upper()
        if client_addr not in workers or name in ("MULTI", "EXEC", "EVAL", "EVALSHA", "SELECT"):
            continue
        # Which member a command is about: its key, or the ZADD member's task id (a
        # stored document may name another task, e.g. a body's parent_id).
        text = " ".join(args[:2] + (args[3:4] if name == "ZADD" else []))
        mentioned = [tid for tid in member_ids if tid in text]
        if mentioned:
            current = mentioned[0]
        elif group_id not in text:
            continue
        if current is None:
            continue
        if name in ("SETEX", "PUBLISH") and "celery-task-meta-" in args[1]:
            args = args[:2] + (["<ttl>"] if name == "SETEX" else [])  # the document differs
        seqs[current].append([norm(a) for a in args])
    return [seqs[tid] for tid in member_ids]


class ChordRedisTrace(unittest.TestCase):
    def test_chord_member_commands_match_python_celery_capture(self):
        self.addCleanup(gc.collect)
        with open(CAPTURE) as f:
            captured = parse_monitor(f)
        # mon1.txt: chord of three members (results 2, 4, 6), group 28aa69e4-...
        cap_gid = "28aa69e4-d53c-4cb2-b219-ed992d53652f"
        cap_ids = ["6460e484-cc70-4a4d-9f17-e53dd39b50b4", "03bf8dbe-f96e-467b-9d18-8d6656bfb525",
                   "385932a8-522f-473b-b37c-f0d0f1b812e1"]
        expected = member_sequences(captured, cap_ids, cap_gid)
        self.assertEqual(expected[0][3][0], "ZADD")

        port = STACK["redis"].url.rsplit(":", 1)[1].split("/")[0]
        monitor = subprocess.Popen(["redis-cli", "-p", port, "monitor"], stdout=subprocess.PIPE,
                                   text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(monitor.stdout), daemon=True)
        reader.start()
        try:
            time.sleep(0.3)  # MONITOR is on before the chord is sent
            app = client()
            res = chord([app.signature("celeriac.echo", args=(v,)) for v in (2, 4, 6)])(
                app.signature("pyapp.collect"))
            self.assertEqual(res.get(timeout=30), [2, 4, 6])
            ids = [r.id for r in res.parent.results]
            gid = res.parent.id
            app.close()
            time.sleep(0.3)
        finally:
            monitor.terminate()
            monitor.wait(timeout=10)
            reader.join(timeout=10)
        ours = member_sequences(parse_monitor(lines), ids, gid)
        tail_len = 5  # GET <group>, ZRANGE, DEL x3: only the member completing the chord
        completing = [i for i, seq in enumerate(ours) if len(seq) == len(expected[2])]
        self.assertEqual(len(completing), 1, ours)
        for i in range(3):
            mine = ours[i][:-tail_len] if i == completing[0] else ours[i]
            theirs = expected[i][:-tail_len] if i == 2 else expected[i]
            self.assertEqual(mine, theirs, "member %d" % i)
        self.assertEqual(ours[completing[0]][-tail_len:], expected[2][-tail_len:])


if __name__ == "__main__":
    unittest.main()
