"""Shared helpers of tests/deploy: where things are, loading every manifest, and what
the celeriac binary accepts (flags from `celeriac worker --help`, environment variables
from the sources that read them)."""

import functools
import glob
import json
import os
import re
import shutil
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
K8S_BASE = os.path.join(DEPLOY, "k8s", "base")
K8S_OVERLAY = os.path.join(DEPLOY, "k8s", "overlays", "example")
PROM = os.path.join(DEPLOY, "prometheus")


def path(*parts):
    return os.path.join(ROOT, *parts)


def celeriac_bin():
    p = os.environ.get("CELERIAC_BIN") or path("build", "worker", "celeriac")
    return os.path.abspath(p)


def stub_bin():
    p = os.environ.get("LLM_STUB_BIN") or path("build", "tests", "support", "llm_stub", "llm-stub")
    return os.path.abspath(p)


def build_dir():
    return os.path.abspath(os.environ.get("CELERIAC_BUILD_DIR") or path("build"))


def read(p):
    with open(p, errors="replace") as f:
        return f.read()


def load_yaml_docs(p):
    with open(p) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def yaml_files():
    out = []
    for pattern in ("deploy/**/*.yaml", "deploy/**/*.yml"):
        out += glob.glob(path(pattern), recursive=True)
    return sorted(set(out))


def json_files():
    return sorted(glob.glob(path("deploy/**/*.json"), recursive=True))


def base_resources():
    """Every object of the kustomize base, from the files its kustomization lists."""
    kust = load_yaml_docs(os.path.join(K8S_BASE, "kustomization.yaml"))[0]
    docs = []
    for r in kust["resources"]:
        docs += load_yaml_docs(os.path.join(K8S_BASE, r))
    return docs


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


@functools.lru_cache(maxsize=None)
def rendered_overlay():
    """`kubectl kustomize` of the example overlay, or None without kubectl."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    r = subprocess.run([kubectl, "kustomize", K8S_OVERLAY], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise AssertionError("kubectl kustomize failed: " + r.stderr)
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]


# ---- what the binary accepts -------------------------------------------------------

_OPT_LINE = re.compile(r"^\s{2}(-[^\s].*?)(?:\s{2,}|$)")


@functools.lru_cache(maxsize=None)
def worker_help(binary=None):
    r = subprocess.run([binary or celeriac_bin(), "worker", "--help"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("celeriac worker --help failed: " + r.stderr)
    return r.stdout


@functools.lru_cache(maxsize=None)
def worker_options(binary=None):
    """{option: takes_value} from `celeriac worker --help` (CLI11's layout: names joined
    by commas, then a type such as TEXT or INT:INT in [..] when the option takes one)."""
    opts = {}
    for line in worker_help(binary).splitlines():
        m = _OPT_LINE.match(line)
        if not m:
            continue
        first = m.group(1).strip()
        names, _, rest = first.partition(" ")
        takes_value = bool(re.match(r"[A-Z]", rest.strip()))
        for n in names.split(","):
            opts[n] = takes_value
    return opts


def check_worker_args(args, binary=None):
    """Problems with an argument list given to `celeriac worker` (empty: all accepted).
    `--opt=value` and `-Xvalue` forms are not used in our files, so not supported."""
    opts = worker_options(binary)
    problems = []
    i = 0
    while i < len(args):
        a = str(args[i])
        if not a.startswith("-"):
            problems.append("positional argument %r (celeriac worker takes none)" % a)
        elif a not in opts:
            problems.append("unknown option %s" % a)
        elif opts[a]:
            if i + 1 >= len(args):
                problems.append("%s needs a value" % a)
            i += 1
        i += 1
    return problems


@functools.lru_cache(maxsize=None)
def accepted_env_vars():
    """(names, prefixes) the worker and balancer read from the environment, found in the
    sources that read them (env_or("X"), lookup(env, "X"), contains("X"), and a literal
    "X_" + n for numbered families), plus those `--help` names as [env X]."""
    names, prefixes = set(), set()
    sources = glob.glob(path("worker", "**", "*.cc"), recursive=True)
    sources += glob.glob(path("balancer", "src", "**", "*.cc"), recursive=True)
    for src in sources:
        text = read(src)
        names.update(re.findall(r'env_or\("([A-Z][A-Z0-9_]*)"\)', text))
        names.update(re.findall(r'lookup\(\s*env\s*,\s*"([A-Z][A-Z0-9_]*)"', text))
        names.update(re.findall(r'env\.(?:contains|find|count)\("([A-Z][A-Z0-9_]*)"\)', text))
        prefixes.update(re.findall(r'"([A-Z][A-Z0-9_]*_)"\s*\+', text))
    names.update(re.findall(r"\[env ([A-Z][A-Z0-9_]*)", worker_help()))
    return frozenset(names), frozenset(prefixes)


def config_env_refs(balancer_yaml_path):
    """Environment variables a balancer config names for its keys."""
    cfg = load_yaml_docs(balancer_yaml_path)[0]
    refs = set()
    for ep in cfg.get("endpoints", []):
        if ep.get("api_key_env"):
            refs.add(ep["api_key_env"])
        for k in ep.get("keys", []) or []:
            if k.get("env"):
                refs.add(k["env"])
    for s in cfg.get("key_sets", []) or []:
        for k in s.get("keys", []):
            if k.get("env"):
                refs.add(k["env"])
    return refs


def env_accepted(name, config_refs=()):
    names, prefixes = accepted_env_vars()
    if name in names or name in config_refs:
        return True
    return any(name.startswith(p) and name[len(p):].isdigit() for p in prefixes)


def read_env_file(p):
    out = {}
    for line in read(p).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def dockerfile_stages(p=None):
    """[(stage name, [(instruction, argument text)])] with continuation lines joined and
    comments dropped."""
    text = read(p or path("deploy", "docker", "Dockerfile"))
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        lines.append(cur)
        cur = ""
    stages = []
    for line in lines:
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg.strip(), re.I)
            stages.append({"from": m.group(1), "name": m.group(2), "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((instr, arg.strip()))
    return stages


def exec_form(arg):
    """The list of an exec-form instruction argument, or None for shell form."""
    try:
        v = json.loads(arg)
    except ValueError:
        return None
    return v if isinstance(v, list) else None
