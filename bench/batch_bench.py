"""Benchmark `python -m service.batch`: patients per second per core and peak memory at 100,000 patients.

    .venv/bin/python bench/batch_bench.py [--patients 100000] [--workers 1 2] [--format ndjson|csv]

Synthetic patients are generated on the fly from the test fixtures' real-world medication strings (top-300
generics, opioid order lines, naltrexone products, brand names, look-alikes, a few unknown names) and piped
into a temporary file first (so the generator does not compete for a core); the output goes to /dev/null. Peak
memory is sampled from /proc every 50 ms: the batch process alone and the sum over it and its workers.
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
UNKNOWN = ("zorblatine 5 mg", "plinkorex 2 mg tablet", "Vitamin Gummies Kids", "cbd oil 10 mg/mL", "frobnitol")
SIGS = (
    "take 1 tablet by mouth daily",
    "1 tab PO BID",
    "take 1 capsule at bedtime",
    "every 6 hours as needed",
    "TID with meals",
    "",
)


def _names(filename):
    with (FIXTURES / filename).open(encoding="utf-8") as handle:
        return [row["name"] for row in csv.DictReader(handle, delimiter="\t") if row.get("name")]


def patients(count, seed=9):
    """Realistic patients: 2-12 medications, ~30 % on naltrexone, ~10 % with an opioid, a few unknown names."""
    rng = random.Random(seed)
    common, opioids = _names("top300.tsv"), _names("opioid_strings.tsv")
    naltrexone, brands = _names("naltrexone_strings.tsv"), _names("brands_common.tsv")
    for number in range(count):
        meds = [{"name": rng.choice(common)} for _ in range(rng.randint(1, 10))]
        for med in meds:
            sig = rng.choice(SIGS)
            if sig:
                med["instructions"] = sig
        if rng.random() < 0.3:
            meds.append({"name": rng.choice(naltrexone), "frequency": "QHS"})
        if rng.random() < 0.1:
            meds.append({"name": rng.choice(opioids), "status": rng.choice(("active", "proposed"))})
        if rng.random() < 0.2:
            meds.append({"name": rng.choice(brands)})
        if rng.random() < 0.05:
            meds.append({"name": rng.choice(UNKNOWN)})
        rng.shuffle(meds)
        yield {"patient_id": f"B{number:07d}", "as_of": "2026-11-25", "medications": meds}


def _tree(pid):
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            stack.extend(int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split())
        except OSError:
            pass
    return pids


def _rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_input(path, count, fmt):
    """Generate the synthetic patients into a temporary file (so the generator does not compete for a core)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.writer(handle)
            writer.writerow(("patient_id", "name", "instructions", "frequency", "status", "as_of"))
            for patient in patients(count):
                for med in patient["medications"]:
                    writer.writerow(
                        (
                            patient["patient_id"],
                            med["name"],
                            med.get("instructions", ""),
                            med.get("frequency", ""),
                            med.get("status", ""),
                            patient["as_of"],
                        )
                    )
        else:
            for patient in patients(count):
                handle.write(json.dumps(patient) + "\n")


def run_once(path, count, workers):
    command = [
        sys.executable,
        "-m",
        "service.batch",
        str(path),
        "--workers",
        str(workers),
        "--no-progress",
        "--output",
        os.devnull,
        "--format",
        "ndjson",
    ]
    peak = {"main": 0, "total": 0}
    done = threading.Event()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample():
        while not done.is_set():
            sizes = [_rss_kib(pid) for pid in _tree(process.pid)]
            peak["main"] = max(peak["main"], sizes[0] if sizes else 0)
            peak["total"] = max(peak["total"], sum(sizes))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    summary = stderr.decode()
    if process.returncode != 0:
        raise SystemExit(f"batch failed with {process.returncode}:\n{summary}")
    return {
        "workers": workers,
        "patients": count,
        "seconds": round(elapsed, 2),
        "patients_per_second": round(count / elapsed),
        "per_core": round(count / elapsed / workers),
        "peak_rss_main_mib": round(peak["main"] / 1024, 1),
        "peak_rss_total_mib": round(peak["total"] / 1024, 1),
        "summary": summary,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    parser.add_argument("--show-summary", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"patients.{args.format}"
        write_input(path, args.patients, args.format)
        size = path.stat().st_size / 2**20
        print(f"{os.cpu_count()} CPUs; {args.patients} synthetic patients, {args.format}, {size:.0f} MiB")
        print(f"{'workers':>7} {'seconds':>8} {'patients/s':>11} {'per core':>9} {'RSS main':>9} {'RSS all':>8}")
        for workers in args.workers:
            report(run_once(path, args.patients, workers), args.show_summary)


def report(result, show_summary):
    """One line of the table (and the command's own summary if asked)."""
    print(
        f"{result['workers']:>7} {result['seconds']:>8} {result['patients_per_second']:>11} "
        f"{result['per_core']:>9} {result['peak_rss_main_mib']:>7}Mi {result['peak_rss_total_mib']:>6}Mi",
        flush=True,
    )
    if show_summary:
        print(result["summary"])


if __name__ == "__main__":
    main()
