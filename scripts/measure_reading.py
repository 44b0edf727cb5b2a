"""Measure how the service reads medication lines as a pharmacist does (issue 12), on the independent fixtures.

    .venv/bin/python scripts/measure_reading.py [--json]

The fixtures in tests/fixtures/lines/ were written by a helper from the kinds of the issue, without reading the
code: truncated and abbreviated opioid lines, non-opioid look-alikes sharing a prefix with an opioid, sigs written
inside the name for every LDN formulation, and problem-list phrasings. Each line goes through the whole check
(normalisation, facts, engine, explanation) with compounded LDN 4.5 mg at bedtime on the list. Prints the figures
the issue asks for, and every line that misses them.
"""

import argparse
import csv
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LINES = ROOT / "tests" / "fixtures" / "lines"
AS_OF = datetime.date(2026, 11, 25)
LDN = {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"}
VISIBLE = {"critical", "high", "moderate", "low"}


def rows(name):
    """The rows of one fixture file (tab-separated, header first)."""
    with open(LINES / name, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def check_line(checker, medication):
    """Check LDN plus one medication; return (its view, the alerts that name it)."""
    result = checker.check({"as_of": AS_OF, "medications": [LDN, {"id": "x", **medication}]})
    view = next(m for m in result.medications if m["id"] == "x")
    alerts = [a for a in result.alerts if "x" in a["medications"]]
    return view, alerts


def is_opioid_view(view):
    """The service classed the line as an opioid agonist."""
    return "opioid_agonist" in view["classes"]


def left_over(view):
    """The line has a word the service did not account for, or an ambiguity that matters."""
    return (
        bool(view.get("unmatched_terms"))
        or any(a["matters"] for a in view.get("ambiguities", ()))
        or (not view["recognized"])
    )


def measure_opioids(checker):
    """Opioid lines: recognized as opioid, flagged as a possible opioid, or silent (a miss)."""
    recognized, flagged, silent = [], [], []
    for row in rows("opioid_abbrev.tsv"):
        view, alerts = check_line(checker, {"name": row["line"]})
        codes = {a["code"] for a in alerts}
        if is_opioid_view(view) and "opioid-use" in codes:
            recognized.append(row["line"])
        elif "possible-opioid" in codes or any(a["severity"] in VISIBLE for a in alerts):
            flagged.append((row["line"], sorted(codes)))
        else:
            silent.append((row["line"], view.get("ingredients"), view.get("unmatched_terms")))
    return recognized, flagged, silent


def measure_lookalikes(checker):
    """Non-opioid lines: called an opioid (must be none), flagged as possible opioid or partial, clean."""
    called, flagged, clean = [], [], []
    for row in rows("nonopioid_prefix.tsv"):
        view, alerts = check_line(checker, {"name": row["line"]})
        codes = {a["code"] for a in alerts}
        if is_opioid_view(view) or "opioid-use" in codes:
            called.append((row["line"], view["ingredients"]))
        elif codes & {"possible-opioid", "partially-recognized-medication"}:
            flagged.append((row["line"], sorted(codes)))
        else:
            clean.append(row["line"])
    return called, flagged, clean


def measure_leftovers(checker):
    """Every fixture line with a word left over must come back with a visible alert naming it."""
    lines = [r["line"] for r in rows("opioid_abbrev.tsv")] + [r["line"] for r in rows("nonopioid_prefix.tsv")]
    lines += [r["name"] for r in rows("sig_in_name.tsv")]
    with_leftover, quiet = 0, []
    for line in lines:
        view, alerts = check_line(checker, {"name": line})
        if left_over(view):
            with_leftover += 1
            if not any(a["severity"] in VISIBLE for a in alerts):
                quiet.append((line, view.get("unmatched_terms"), [a["code"] for a in alerts]))
    return len(lines), with_leftover, quiet


def _without(name, sig):
    """The name with the sig taken out (the product part a separate sig field would go with)."""
    index = name.lower().find(sig.lower())
    if index < 0:
        return name
    return (name[:index] + name[index + len(sig) :]).strip(" ,;:-")


def measure_sigs(checker):
    """Sig inside the name vs the same sig in instructions; and vs the pharmacist's daily mg."""
    same, differ, right, wrong = 0, [], 0, []
    for row in rows("sig_in_name.tsv"):
        in_name, _ = check_line(checker, {"name": row["name"]})
        separate, _ = check_line(
            checker, {"name": _without(row["name"], row["instructions"]), "instructions": row["instructions"]}
        )
        a, b = in_name.get("daily_dose_mg"), separate.get("daily_dose_mg")
        if a == b:
            same += 1
        else:
            differ.append((row["name"], a, b))
        expected = float(row["daily_mg"])
        if a is not None and abs(a - expected) <= 1e-3 * max(1.0, expected):
            right += 1
        else:
            wrong.append((row["name"], a, expected))
    return same, differ, right, wrong


def measure_conditions(checker):
    """Problem-list phrasings: the kind the service reads vs the kind the fixture gives."""
    from rules.knowledge.conditions import classify_condition  # noqa: PLC0415

    right, wrong = 0, []
    for row in rows("problem_list.tsv"):
        kind = classify_condition(checker.vocabulary, {"name": row["phrase"]}) or "none"
        if kind == row["kind"]:
            right += 1
        else:
            wrong.append((row["phrase"], kind, row["kind"]))
    return right, wrong


def measure_speed(checker, repeats=300):
    """Median and p99 µs to normalise a 10-medication list from the fixtures, warm caches."""
    from rules.knowledge.normalise import normalise_medication  # noqa: PLC0415

    lines = [r["line"] for r in rows("opioid_abbrev.tsv")][:5] + [r["name"] for r in rows("sig_in_name.tsv")][:5]
    meds = [{"id": str(i), "name": line} for i, line in enumerate(lines)]
    for med in meds:
        normalise_medication(checker.vocabulary, med, 0, AS_OF)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for index, med in enumerate(meds):
            normalise_medication(checker.vocabulary, med, index, AS_OF)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main(argv=None):
    """Run every measurement and print the figures and the misses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    from service.checker import Checker  # noqa: PLC0415

    checker = Checker()
    recognized, flagged, silent = measure_opioids(checker)
    called, look_flagged, clean = measure_lookalikes(checker)
    total_lines, with_leftover, quiet = measure_leftovers(checker)
    same, differ, right, wrong = measure_sigs(checker)
    cond_right, cond_wrong = measure_conditions(checker)
    median_us, p99_us = measure_speed(checker)
    opioid_total = len(recognized) + len(flagged) + len(silent)
    figures = {
        "opioid_lines": opioid_total,
        "opioid_recognized_as_opioid": len(recognized),
        "opioid_flagged_possible_or_visible": len(flagged),
        "opioid_silent": len(silent),
        "lookalike_lines": len(called) + len(look_flagged) + len(clean),
        "lookalikes_called_opioid": len(called),
        "lookalikes_flagged": len(look_flagged),
        "lines_checked_for_leftovers": total_lines,
        "lines_with_leftover_words": with_leftover,
        "leftover_lines_without_visible_alert": len(quiet),
        "sig_lines": same + len(differ),
        "sig_in_name_matches_instructions": same,
        "sig_daily_dose_matches_pharmacist": right,
        "problem_list_phrases": cond_right + len(cond_wrong),
        "problem_list_right": cond_right,
        "normalise_10_medications_warm_median_us": round(median_us, 1),
        "normalise_10_medications_warm_p99_us": round(p99_us, 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(json.dumps(figures, indent=1))
    for title, items in (
        ("opioid lines with no visible alert", silent),
        ("opioid lines flagged, not resolved", flagged),
        ("look-alikes called opioid", called),
        ("look-alikes flagged", look_flagged),
        ("leftover words without a visible alert", quiet),
        ("sig in name differs from instructions (name, separate)", differ),
        ("sig daily dose differs from the pharmacist (got, expected)", wrong),
        ("problem-list phrases read differently (got, expected)", cond_wrong),
    ):
        print(f"\n## {title}: {len(items)}")
        for item in items:
            print("  ", item)


if __name__ == "__main__":
    main()
