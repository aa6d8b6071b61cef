"""The fault driver's load: what is sent, and what it must end as. Load plans the seeded
task list (echo, echo with a countdown, sleep, analyze, generate, and chains of them) as
send functions for Debian's Python Celery; each task id becomes a Sent that carries its
expectation, a check of the stored result document (the right value, the analysis of the
right category, the answer made from this task's own prompt).
"""

import uuid

from celery import chain

import corpus_lib
from driver_config import CATEGORIES, IMAGE, MIX


class Sent:
    """One task id the driver is owed a terminal state for."""

    __slots__ = ("id", "kind", "expect", "parent", "resent", "sent_at", "built", "done",
                 "verdict")

    def __init__(self, task_id, kind, expect, parent=None):
        self.id = task_id
        self.kind = kind        # load kind, or "hostile:<case>"
        self.expect = expect    # callable(doc) -> None if right, else a problem string
        self.parent = parent    # the chain step before this one
        self.resent = False     # the client published it more than once
        self.sent_at = None
        self.built = None
        self.done = False
        self.verdict = None


def expect_success(check):
    def judge(doc):
        if doc is None or doc.get("status") != "SUCCESS":
            return "state %s" % (doc.get("status") if doc else "missing")
        return check(doc.get("result"))
    return judge


def equals(value):
    return expect_success(lambda got: None if corpus_lib.same_value(got, value)
                          else "result %s != %s" % (str(got)[:120], str(value)[:120]))


def analysis_of(category):
    def check(got):
        if not isinstance(got, dict) or got.get("overall_category") != category:
            return "analysis %s, expected %s" % (str(got)[:160], category)
        if not got.get("items"):
            return "analysis without items"
        return None
    return expect_success(check)


def generation_locale(tid):
    """A BCP-47 tag that carries 16 hex digits of the task id: the prompt starts with
    'Locale: <tag>' and the llm-stub's answer echoes the first 200 characters of the
    prompt, so the answer shows which task's prompt it was made from."""
    hexid = tid.replace("-", "")
    return "en-%s-%s" % (hexid[:8], hexid[8:16])


def answer_for(tid):
    locale = generation_locale(tid)

    def check(got):
        if not isinstance(got, dict) or not isinstance(got.get("answer"), str) \
                or not got.get("steps"):
            return "not a generate result: %s" % str(got)[:160]
        if "Locale: " + locale not in got["answer"]:
            return "answer %r was not made from this task's prompt (%s)" % (
                got["answer"][:120], locale)
        return None
    return expect_success(check)


def random_value(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randrange(-10 ** 12, 10 ** 12)
    if kind == 1:
        return round(rng.uniform(-1e6, 1e6), 6)
    if kind == 2:
        return "".join(rng.choice("abcxyz 한글✓é\"\\") for _ in range(rng.randrange(1, 40)))
    if kind == 3:
        return [rng.randrange(100), None, True, "s%d" % rng.randrange(1000)]
    if kind == 4:
        return {"k%d" % i: {"v": rng.randrange(1000), "l": [i, str(i)]} for i in range(3)}
    return None


CANNED_ANALYSIS = {"items": [{"name": "glass jar", "category": "glass", "material": "glass",
                              "needs_cleaning": True, "needs_separation": True,
                              "confidence": 0.9}],
                   "overall_category": "glass", "reason": "a jar"}
RULES = {"glass": "rinse, remove the lid, put it in the glass bin"}


class Load:
    """Builds the task list (seeded) and sends it over the load phase."""

    def __init__(self, app, rng, n_ids):
        self.app = app
        self.rng = rng
        self.plan = []   # (kind, [Sent], send function)
        self.sent = []   # every Sent, in send order
        count = 0
        kinds, weights = zip(*MIX)
        while count < n_ids:
            kind = rng.choices(kinds, weights)[0]
            items = getattr(self, "plan_" + kind)(count)
            self.plan.append(items)
            count += len(items[1])

    def _tid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def plan_echo(self, i):
        tid, value = self._tid(), random_value(self.rng)
        s = Sent(tid, "celeriac.echo", equals(value))
        return ("echo", [s], lambda: self.app.send_task("celeriac.echo", args=[value],
                                                        task_id=tid, retry=False))

    def plan_echo_countdown(self, i):
        tid, value, countdown = self._tid(), random_value(self.rng), self.rng.randint(2, 8)
        s = Sent(tid, "celeriac.echo countdown", equals(value))
        return ("echo_countdown", [s], lambda: self.app.send_task(
            "celeriac.echo", args=[value], task_id=tid, countdown=countdown, retry=False))

    def plan_sleep(self, i):
        tid, seconds = self._tid(), round(self.rng.uniform(0.1, 2.5), 2)
        s = Sent(tid, "celeriac.sleep", equals(seconds))
        return ("sleep", [s], lambda: self.app.send_task("celeriac.sleep", args=[seconds],
                                                         task_id=tid, retry=False))

    def _analyze_kwargs(self, tid, category, n):
        return {"image": IMAGE % n, "user_id": "drv-%d" % n, "locale": "en",
                "hint": "a %s item atid=%s" % (category, tid)}

    def plan_analyze(self, i):
        tid, category = self._tid(), self.rng.choice(CATEGORIES)
        kwargs = self._analyze_kwargs(tid, category, i)
        s = Sent(tid, "gpt5_analyzer.analyze", analysis_of(category))
        return ("analyze", [s], lambda: self.app.send_task("gpt5_analyzer.analyze",
                                                           kwargs=kwargs, task_id=tid,
                                                           retry=False))

    def plan_generate(self, i):
        tid = self._tid()
        kwargs = {"rules": RULES, "locale": generation_locale(tid),
                  "question": "where does it go? gtid=" + tid}
        s = Sent(tid, "response_generator.generate", answer_for(tid))
        return ("generate", [s], lambda: self.app.send_task(
            "response_generator.generate", args=[CANNED_ANALYSIS], kwargs=kwargs,
            task_id=tid, retry=False))

    def plan_chain_echo(self, i):
        t1, t2, t3 = self._tid(), self._tid(), self._tid()
        v, w = random_value(self.rng), random_value(self.rng)
        s1 = Sent(t1, "chain echo|echo|echo", equals(v))
        s2 = Sent(t2, "chain echo|echo|echo", equals([v, w]), parent=s1)
        s3 = Sent(t3, "chain echo|echo|echo", equals([v, w]), parent=s2)
        def send():
            sig = self.app.signature
            chain(sig("celeriac.echo", args=[v], options={"task_id": t1}),
                  sig("celeriac.echo", args=[w], options={"task_id": t2}),
                  sig("celeriac.echo", options={"task_id": t3})).apply_async(retry=False)
        return ("chain_echo", [s1, s2, s3], send)

    def plan_chain_llm(self, i):
        t1, t2 = self._tid(), self._tid()
        category = self.rng.choice(CATEGORIES)
        s1 = Sent(t1, "chain analyze|generate", analysis_of(category))
        s2 = Sent(t2, "chain analyze|generate", answer_for(t2), parent=s1)
        a_kwargs = self._analyze_kwargs(t1, category, i)
        g_kwargs = {"rules": RULES, "locale": generation_locale(t2),
                    "question": "and now? gtid=" + t2}
        def send():
            sig = self.app.signature
            chain(sig("gpt5_analyzer.analyze", kwargs=a_kwargs, options={"task_id": t1}),
                  sig("response_generator.generate", kwargs=g_kwargs,
                      options={"task_id": t2})).apply_async(retry=False)
        return ("chain_llm", [s1, s2], send)
