"""In-process stage costs of one check, per body, with warm and cold recognition caches (issue 6).

    .venv/bin/python bench/inprocess.py [--iterations 2000 --cold-iterations 300]

Each body runs in a fresh child process (a crash in the engine is reported, not fatal). Stages, each timed alone
with time.perf_counter_ns around the call only:
- json_parse: json.loads of the raw body (what read_json does, without Flask);
- marshmallow_load: load(body) on one prebuilt CheckRequestSchema(500);
- marshmallow_new_schema_and_load: CheckRequestSchema(500).load(body), a new schema per request (what api.py does);
- normalise: normalise_medication for every medication (rules/knowledge);
- facts: build_facts on the normalised medications;
- engine: Checker.engine.evaluate on prebuilt facts (durable-rules C matching + consequences + JSON round trips);
- explain: Checker._alerts on the engine's findings; medication_views: medication_view for every medication;
- json_response: app.json.response(payload) in an app context (what jsonify does: dumps + Response);
- check: the whole Checker.check (normalise + facts + engine + explain + views).
"Warm" = the caches of rules/knowledge (every lru_cache in recognize, dosing, normalise, sig, text and conditions:
the text readings and each distinct line's reading) hold this body's lines (steady state for lines seen before);
"cold" = all of them are cleared before every iteration (every line new to the worker). The engine, explain and JSON stages do not use
those caches. Also measures, in a fresh process, the time and RSS added by importing and building the Checker.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODIES = ROOT / "bench" / "bodies"


def rss_kb():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def stats(samples_ns):
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"median_us": round(statistics.median(ordered) / 1000, 1), "p99_us": round(p99 / 1000, 1), "n": len(ordered)}


def measure(fn, iterations, before=None, budget_s=20.0):
    samples = []
    deadline = time.perf_counter() + budget_s
    for _ in range(iterations):
        if before:
            before()
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
        if time.perf_counter() > deadline:
            break
    return stats(samples)


def child_body(path, iterations, cold_iterations):
    sys.path.insert(0, str(ROOT))
    from rules.facts import build_facts  # noqa: PLC0415
    from rules.knowledge import conditions, dosing, normalise, recognize, sig, text  # noqa: PLC0415
    from rules.knowledge.normalise import normalise_medication  # noqa: PLC0415
    from schemas.check import CheckRequestSchema  # noqa: PLC0415
    from service import create_app  # noqa: PLC0415
    from service.api import check_response  # noqa: PLC0415
    from service.checker import medication_view  # noqa: PLC0415

    app = create_app({"LOG_LEVEL": "WARNING"})
    checker = app.extensions["ldn_pipeline"].checker
    raw = Path(path).read_text()
    body = json.loads(raw)
    schema = CheckRequestSchema(500)
    request = schema.load(body)
    as_of = request["as_of"]
    vocabulary = checker.vocabulary

    caches = [
        function
        for module in (recognize, dosing, normalise, sig, text, conditions)
        for function in vars(module).values()
        # Not the indexes built once per vocabulary (maxsize 4): a new line does not rebuild them.
        if hasattr(function, "cache_clear") and function.cache_info().maxsize > 4
    ]

    def clear():
        for function in caches:
            function.cache_clear()

    def normalise():
        return [normalise_medication(vocabulary, m, i, as_of) for i, m in enumerate(request["medications"])]

    meds = normalise()
    facts = build_facts(request.get("patient") or {}, meds, vocabulary, as_of)
    posted = [facts.patient, *facts.medications]
    checker.engine.evaluate(posted)
    # The explanation step's arguments change as the service evolves: capture the real ones from one check().
    captured = {}
    original_alerts = checker._alerts

    def capture(*call_args, **call_kwargs):
        captured["args"], captured["kwargs"] = call_args, call_kwargs
        return original_alerts(*call_args, **call_kwargs)

    checker._alerts = capture
    checker.check(request)
    del checker._alerts
    result = checker.check(request)
    payload = check_response(result, checker.ruleset)
    n, c = iterations, cold_iterations
    out = {
        "medications": len(request["medications"]),
        "facts_posted": len(posted),
        "alerts": [a["code"] for a in result.alerts],
        "json_parse": {"warm": measure(lambda: json.loads(raw), n)},
        "marshmallow_load": {"warm": measure(lambda: schema.load(body), n)},
        "marshmallow_new_schema_and_load": {"warm": measure(lambda: CheckRequestSchema(500).load(body), n)},
        "normalise": {"warm": measure(normalise, n), "cold": measure(normalise, c, before=clear)},
        "facts": {"warm": measure(lambda: build_facts(request.get("patient") or {}, meds, vocabulary, as_of), n)},
        "engine": {"warm": measure(lambda: checker.engine.evaluate(posted), n)},
        "explain": {"warm": measure(lambda: original_alerts(*captured["args"], **captured["kwargs"]), n)},
        "medication_views": {"warm": measure(lambda: [medication_view(m) for m in meds], n)},
    }
    with app.app_context():
        out["json_response"] = {"warm": measure(lambda: app.json.response(payload), n)}
    out["check"] = {
        "warm": measure(lambda: checker.check(request), n),
        "cold": measure(lambda: checker.check(request), c, before=clear),
    }
    return out


def child_load():
    sys.path.insert(0, str(ROOT))
    before = rss_kb()
    start = time.perf_counter()
    import service  # noqa: PLC0415
    import service.checker  # noqa: PLC0415

    imported = time.perf_counter()
    rss_imported = rss_kb()
    checker = service.checker.Checker()
    built = time.perf_counter()
    rss_built = rss_kb()
    app = service.create_app({"LOG_LEVEL": "WARNING"})
    app_made = time.perf_counter()
    return {
        "import_s": round(imported - start, 3),
        "checker_build_s": round(built - imported, 3),
        "create_app_s_after_checker": round(app_made - built, 3),
        "rss_mb_start": round(before / 1024, 1),
        "rss_mb_after_imports": round(rss_imported / 1024, 1),
        "rss_mb_after_checker": round(rss_built / 1024, 1),
        "rss_mb_added_by_checker": round((rss_built - rss_imported) / 1024, 1),
        "rss_mb_after_create_app": round(rss_kb() / 1024, 1),
        "vocabulary_version": checker.ruleset["vocabulary_version"],
        "app": bool(app),
    }


def run_child(args):
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=900, cwd=ROOT)
    line = next((text for text in proc.stdout.splitlines() if text.startswith("CHILD_JSON ")), None)
    if proc.returncode != 0 or line is None:
        return {"error": f"child exited {proc.returncode}", "stderr_tail": proc.stderr[-1500:]}
    return json.loads(line[len("CHILD_JSON ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--cold-iterations", type=int, default=300)
    parser.add_argument("--child-body")
    parser.add_argument("--child-load", action="store_true")
    args = parser.parse_args()
    if args.child_body:
        print("CHILD_JSON " + json.dumps(child_body(args.child_body, args.iterations, args.cold_iterations)))
        return
    if args.child_load:
        print("CHILD_JSON " + json.dumps(child_load()))
        return
    report = {"iterations": args.iterations, "cold_iterations": args.cold_iterations, "bodies": {}}
    report["load"] = run_child(["--child-load"])
    for path in sorted(BODIES.glob("*.json")):
        print(f"  in-process: {path.stem}", file=sys.stderr, flush=True)
        report["bodies"][path.stem] = run_child(
            [
                "--child-body",
                str(path),
                "--iterations",
                str(args.iterations),
                "--cold-iterations",
                str(args.cold_iterations),
            ]
        )
    print("BENCH_JSON " + json.dumps(report))


if __name__ == "__main__":
    main()
