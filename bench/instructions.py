"""Instructions per request, counted by valgrind: a measure of the service's own work that other load on the machine
does not move (issue 17; wall-clock benchmarks on a shared 2-core machine drift by a third from run to run).

    .venv/bin/python bench/instructions.py [--bodies ldn_opioid_10 mixed_30] [--requests 100]

For each body, and for the bare-Flask ceiling (bench/bare_app.py) on the 10-medication body, a child process runs
POST /v1/check through the app's WSGI callable in process (no socket, no gunicorn: both apps would pay those the
same) under `valgrind --tool=callgrind`, once with --requests and once with four times as many after the same
warm-up; the difference divided by the extra requests is the cost of one request, start-up excluded. Production
settings: JSON access log on (to /dev/null), Prometheus multiprocess metrics in a temporary directory.
Instructions are not time (cache misses and branch mispredictions cost time, not instructions), so read the
counts as a repeatable ratio between versions of the code, and the wrk benchmark (bench/run.py) for time.
"""

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 300


def child(body_name, requests):
    """Run `requests` checks after the warm-up, in this process (valgrind counts it)."""
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp())
    sys.path.insert(0, str(ROOT))
    from werkzeug.test import EnvironBuilder  # noqa: PLC0415

    if body_name == "bare":
        from bench.bare_app import app  # noqa: PLC0415

        body_name = "ldn_opioid_10"
    else:
        from service import create_app  # noqa: PLC0415

        app = create_app({})
    raw = (ROOT / "bench" / "bodies" / f"{body_name}.json").read_bytes()
    base = EnvironBuilder(path="/v1/check", method="POST", data=raw, content_type="application/json").get_environ()

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    for _ in range(WARM_UP + requests):
        environ = dict(base, **{"wsgi.input": io.BytesIO(raw)})
        for _chunk in app(environ, start_response):
            pass


def count(body_name, requests):
    """Instructions valgrind counted for a child running the warm-up and `requests` checks."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={scratch}/callgrind.out",
            f"--log-file={scratch}/valgrind.log",
            sys.executable,
            __file__,
            "--child",
            body_name,
            "--requests",
            str(requests),
        ]
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=True)
        log = Path(scratch, "valgrind.log").read_text()
    collected = re.search(r"Collected : ([\d,]+)", log)
    if not collected:
        raise SystemExit(f"valgrind printed no count for {body_name}:\n{log[-2000:]}")
    return int(collected.group(1).replace(",", ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", nargs="*", default=["ldn_opioid_10", "mixed_30", "clean_10"])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return
    if subprocess.run(["which", "valgrind"], capture_output=True).returncode != 0:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    print("| app | body | million instructions per request |\n|---|---|---|")
    for name in ["bare", *args.bodies]:
        extra = 3 * args.requests
        per_request = (count(name, 4 * args.requests) - count(name, args.requests)) / extra
        label = ("bare Flask", "ldn_opioid_10") if name == "bare" else ("service", name)
        print(f"| {label[0]} | {label[1]} | {per_request / 1e6:.3f} |", flush=True)


if __name__ == "__main__":
    main()
