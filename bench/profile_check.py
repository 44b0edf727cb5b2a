"""Where a check's time goes: cProfile over Checker.check and over the full Flask WSGI request path (issue 6).

    .venv/bin/python bench/profile_check.py [--iterations 2000 --body ldn_opioid_10]

Writes bench/results/profile.txt (stage split, evaluate() callees, top functions) and prints one BENCH_JSON line.
The WSGI path calls app(environ, start_response) directly with environs prebuilt by Werkzeug's EnvironBuilder
(what gunicorn's sync worker does after parsing HTTP; the socket and HTTP parsing are the same for the bare app).
Also times, without the profiler, the same WSGI call on the real app and on bench.bare_app (median/p99 µs).
cProfile adds a fixed cost to every Python call, so it inflates code made of many small Python calls relative to C
code (the engine's C core, json): read the percentages as a split, and the unprofiled timings as the cost.
"""

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# (stage, file substring, function name): cumulative time of these functions, nested stages excluded below.
STAGES = [
    ("JSON parse (read_json)", "service/requests.py", "read_json"),
    ("marshmallow load", "service/pipeline.py", "validate"),
    ("normalisation", "rules/knowledge/normalise.py", "normalise_medication"),
    ("facts", "rules/facts.py", "build_facts"),
    ("engine (evaluate)", "service/engine.py", "evaluate"),
    ("explanation (_alerts)", "service/checker.py", "_alerts"),
    ("medication views", "service/checker.py", "medication_view"),
    ("jsonify", "flask/json/__init__.py", "jsonify"),
    ("request logging hooks (service/logs.py)", "service/logs.py", "finish_request"),
    ("request id hook", "service/logs.py", "start_request"),
    ("security headers hook", "service/security.py", "secure"),
    ("metrics (service/metrics.py)", "service/metrics.py", "*"),
    ("auth", "service/auth.py", "require_native_auth"),
]


def find(stats, file_part, name):
    """Cumulative seconds of matching functions ('*' = every function of the file, top-level calls only)."""
    total = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, ct, callers) in stats.stats.items():
        if file_part not in filename.replace("\\", "/"):
            continue
        if name == "*":
            # count a function only when its caller is outside the file (avoid double counting)
            outside = {k: v for k, v in callers.items() if file_part not in k[0].replace("\\", "/")}
            total += sum(v[3] for v in outside.values())
        elif func == name:
            total += ct
    return total


def callees_of(stats, file_part, name):
    stats.calc_callees()
    for key, callees in stats.all_callees.items():
        if file_part in key[0] and key[2] == name:
            rows = []
            for callee, value in callees.items():
                ct = value[3] if isinstance(value, tuple) else 0
                rows.append((ct, f"{Path(callee[0]).name}:{callee[1]}({callee[2]})"))
            return sorted(rows, reverse=True)
    return []


def text_of(stats, sort, limit):
    buffer = io.StringIO()
    stats.stream = buffer
    stats.sort_stats(sort).print_stats(limit)
    return buffer.getvalue()


def split(stats, total, stages):
    rows = []
    accounted = 0.0
    for label, file_part, name in stages:
        seconds = find(stats, file_part, name)
        if seconds:
            rows.append((label, seconds))
            accounted += seconds
    return rows, total - accounted


def unprofiled(app, make_environ, iterations):
    samples = []
    for _ in range(iterations):
        environ = make_environ()
        start = time.perf_counter_ns()
        body = b"".join(app(environ, lambda status, headers, exc_info=None: None))
        samples.append(time.perf_counter_ns() - start)
    assert body
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered) / 1000, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1000, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--body", default="ldn_opioid_10")
    parser.add_argument("--output", default=str(RESULTS / "profile.txt"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import logging  # noqa: PLC0415

    from werkzeug.test import EnvironBuilder  # noqa: PLC0415

    from bench.bare_app import app as bare_app  # noqa: PLC0415
    from schemas.check import CheckRequestSchema  # noqa: PLC0415
    from service import create_app  # noqa: PLC0415

    app = create_app()  # default settings, as deployed: the INFO access line is written for every request
    # The access log goes to stderr in production; here to a null stream so the profile is not a terminal's cost.
    for handler in logging.getLogger("service").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open("/dev/null", "w"))
    checker = app.extensions["ldn_pipeline"].checker
    raw = (ROOT / "bench" / "bodies" / f"{args.body}.json").read_bytes()
    request_data = CheckRequestSchema(500).load(json.loads(raw))

    def make_environ():
        return EnvironBuilder(
            path="/v1/check", method="POST", data=raw, content_type="application/json", base_url="http://127.0.0.1:8080"
        ).get_environ()

    for _ in range(200):  # warm: caches, first-call imports
        checker.check(request_data)
        b"".join(app(make_environ(), lambda *a: None))

    out = io.StringIO()
    report = {"body": args.body, "iterations": args.iterations}

    # 1. Checker.check alone
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.iterations):
        checker.check(request_data)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = find(stats, "service/checker.py", "check")
    rows, rest = split(stats, total, STAGES[2:7])
    report["check_split"] = {label: round(s / total * 100, 1) for label, s in rows}
    report["check_split"]["other (check itself, dataclasses, time)"] = round(rest / total * 100, 1)
    print(f"# Profile of Checker.check: {args.iterations} calls, body {args.body} (cProfile, warm caches)\n", file=out)
    print(
        f"total {total:.3f} s profiled = {total / args.iterations * 1e6:.0f} µs per call under the profiler\n", file=out
    )
    for label, s in rows:
        print(f"  {label:45s} {s / total * 100:5.1f}%  {s / args.iterations * 1e6:7.1f} µs/call", file=out)
    print(f"  {'other':45s} {rest / total * 100:5.1f}%  {rest / args.iterations * 1e6:7.1f} µs/call\n", file=out)
    print("## RuleEngine.evaluate callees (cumulative s over all calls)", file=out)
    for ct, name in callees_of(stats, "service/engine.py", "evaluate")[:12]:
        print(f"  {ct:8.4f} s  {ct / args.iterations * 1e6:7.1f} µs/call  {name}", file=out)
    print("\n## Top functions by own time (Checker.check)\n", file=out)
    out.write(text_of(stats, "tottime", 25))

    # 2. the whole Flask request path
    environs = [make_environ() for _ in range(args.iterations)]
    profiler = cProfile.Profile()

    def drive():
        for environ in environs:
            b"".join(app(environ, lambda *a: None))

    profiler.enable()
    drive()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = find(stats, "bench/profile_check.py", "drive")
    rows, rest = split(stats, total, STAGES)
    report["flask_split"] = {label: round(s / total * 100, 1) for label, s in rows}
    report["flask_split"]["Flask/Werkzeug and the rest"] = round(rest / total * 100, 1)
    print(
        f"\n\n# Profile of the Flask request path: {args.iterations} POST /v1/check through app(environ, "
        f"start_response), body {args.body}\n",
        file=out,
    )
    print(
        f"total {total:.3f} s profiled = {total / args.iterations * 1e6:.0f} µs per request under the profiler\n",
        file=out,
    )
    for label, s in rows:
        print(f"  {label:45s} {s / total * 100:5.1f}%  {s / args.iterations * 1e6:7.1f} µs/req", file=out)
    print(
        f"  {'Flask/Werkzeug and the rest':45s} {rest / total * 100:5.1f}%  {rest / args.iterations * 1e6:7.1f} µs/req",
        file=out,
    )
    print("\n## Top functions by own time (Flask path)\n", file=out)
    out.write(text_of(stats, "tottime", 30))
    print("\n## Top functions by cumulative time (Flask path)\n", file=out)
    out.write(text_of(stats, "cumulative", 40))
    stats.sort_stats("tottime")
    top = []
    for key in stats.fcn_list[:15]:
        cc, nc, tt, ct, _ = stats.stats[key]
        top.append(
            {
                "function": f"{key[0].replace(str(ROOT) + '/', '')}:{key[1]}({key[2]})",
                "calls": nc,
                "tottime_pct": round(tt / total * 100, 1),
                "tottime_us_per_req": round(tt / args.iterations * 1e6, 1),
            }
        )
    report["top15_flask_tottime"] = top

    # 3. unprofiled WSGI cost, real vs bare, same body
    n = min(args.iterations, 2000)
    report["wsgi_unprofiled_us"] = {
        "real": unprofiled(app, make_environ, n),
        "bare": unprofiled(bare_app, make_environ, n),
    }
    print(f"\n# Unprofiled WSGI call, {n} requests: {report['wsgi_unprofiled_us']}", file=out)
    print("(environ building excluded; median/p99 µs per request)\n", file=out)
    hooks = {
        "before_request": [f.__qualname__ for f in app.before_request_funcs.get(None, [])],
        "after_request": [f.__qualname__ for f in app.after_request_funcs.get(None, [])],
    }
    report["hooks"] = hooks
    print(f"Hooks on the real app: {hooks}", file=out)
    Path(args.output).write_text(out.getvalue())
    print("BENCH_JSON " + json.dumps(report))


if __name__ == "__main__":
    main()
