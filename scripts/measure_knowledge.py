"""Measure the medication knowledge against the issue's numbers: coverage, look-alikes, speed, memory.

    .venv/bin/python scripts/measure_knowledge.py

Prints one JSON object. Speed is per 10-medication list on one core (median and p99 over many lists), with the
recognition caches cleared before every list (cold) and left warm (a busy service sees the same strings again).
"""

import csv
import gc
import json
import resource
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures"


def rss_mb():
    """Resident memory of this process in MB (from /proc, falling back to the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rows(name):
    with open(FIXTURES / name, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def main():
    """Run every measurement and print the figures."""
    before = rss_mb()
    started = time.perf_counter()
    from rules.knowledge import dosing, recognize  # noqa: PLC0415
    from rules.knowledge.normalise import normalise_medication  # noqa: PLC0415
    from rules.knowledge.vocabulary import load_vocabulary  # noqa: PLC0415

    vocabulary = load_vocabulary()
    load_seconds = time.perf_counter() - started
    gc.collect()
    added_mb = rss_mb() - before

    def opioid(ingredients):
        return any("opioid_agonist" in vocabulary.classes_of(i) for i in ingredients)

    opioid_names = [k for k, v in vocabulary.names.items() if opioid(v.partition("|")[0].split(";"))]
    opioid_name_misses = [n for n in opioid_names if not opioid(recognize.recognize_text(vocabulary, n).ingredients)]
    strings = rows("opioid_strings.tsv")
    string_misses = [
        r["name"] for r in strings if not opioid(recognize.recognize_text(vocabulary, r["name"]).ingredients)
    ]
    lookalikes = rows("lookalikes.tsv")
    false_opioids = [
        r["name"] for r in lookalikes if opioid(recognize.recognize_text(vocabulary, r["name"]).ingredients)
    ]
    top = rows("top300.tsv")
    top_missed = [r["name"] for r in top if not recognize.recognize_text(vocabulary, r["name"]).recognized]
    brands = rows("brands_common.tsv")
    brands_missed = [r["name"] for r in brands if not recognize.recognize_text(vocabulary, r["name"]).recognized]

    names = [r["name"] for r in top] + [r["name"] for r in strings]
    lists = [
        [{"name": names[(i * 7 + j * 13) % len(names)], "frequency": "BID"} for j in range(10)] for i in range(2000)
    ]
    as_of = date(2026, 11, 25)

    from rules.knowledge import normalise, text  # noqa: PLC0415

    caches = [
        f for module in (recognize, dosing, normalise, text) for f in vars(module).values() if hasattr(f, "cache_clear")
    ]

    def clear():
        for cached in caches:
            cached.cache_clear()

    def time_lists(cold):
        samples = []
        for meds in lists:
            if cold:
                clear()
            t0 = time.perf_counter()
            for index, med in enumerate(meds):
                normalise_medication(vocabulary, med, index, as_of)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        return {
            "median_ms": round(statistics.median(samples), 4),
            "p99_ms": round(samples[int(len(samples) * 0.99)], 4),
        }

    time_lists(cold=False)  # warm-up
    figures = {
        "vocabulary_version": vocabulary.version,
        "vocabulary_names": len(vocabulary.names),
        "vocabulary_load_seconds": round(load_seconds, 3),
        "vocabulary_memory_added_mb": round(added_mb, 1),
        "opioid_names_in_vocabulary": len(opioid_names),
        "opioid_names_missed": len(opioid_name_misses),
        "opioid_fixture_strings": len(strings),
        "opioid_fixture_strings_missed": string_misses,
        "lookalike_strings": len(lookalikes),
        "lookalikes_called_opioid": false_opioids,
        "top300_recognized_percent": round(100 * (len(top) - len(top_missed)) / len(top), 1),
        "top300_missed": top_missed,
        "common_brands_recognized_percent": round(100 * (len(brands) - len(brands_missed)) / len(brands), 1),
        "common_brands_missed": brands_missed,
        "normalise_10_medications_cold": time_lists(cold=True),
        "normalise_10_medications_warm": time_lists(cold=False),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
