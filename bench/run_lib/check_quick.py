"""ctest bench.run_quick: runs `bench/run --quick` into a temp dir and checks that the
table and the charts were written (sections, a row per contender, PNG files). It never
checks a figure: speed is reported by the benchmark, not asserted.

    /usr/bin/python3 bench/run_lib/check_quick.py bench/run
"""

import os
import shutil
import subprocess
import sys
import tempfile

CHARTS = ["echo.png", "llm.png", "rate_limited.png", "failing_endpoint.png"]
SECTIONS = ["## Targets", "## (a) echo", "## (b) LLM-shaped", "## (c) rate-limited",
            "## (d) one of three endpoints"]


def main():
    run = sys.argv[1]
    out = tempfile.mkdtemp(prefix="bench-quick-")
    try:
        r = subprocess.run([run, "--quick", "--out", out], timeout=540)
        if r.returncode != 0:
            print("bench/run --quick exited %d" % r.returncode)
            return 1
        with open(os.path.join(out, "results.md")) as f:
            text = f.read()
        missing = [s for s in SECTIONS if s not in text]
        rows = ["| celeriac |", "| celery-prefork |", "| celery-threads |",
                "| celery-gevent |", "| broker ceiling"]
        missing += [r for r in rows if r not in text]
        for chart in CHARTS:
            path = os.path.join(out, chart)
            if not os.path.exists(path):
                missing.append(chart)
                continue
            with open(path, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    missing.append(chart + " (not a PNG)")
        if missing:
            print("bench/run --quick wrote %s without: %s\n%s" % (out, missing, text))
            return 1
        print(text)
        return 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
