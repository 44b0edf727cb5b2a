"""Benchmark `--engine spark` against the local engine: patients/s per core, start-up overhead, 1 → 2 core scaling.

    .venv/bin/python bench/spark_bench.py [--patients 100000] [--cores 1 2] [--first 100]

The input is bench/batch_bench.py's synthetic NDJSON (the same generator and seed); the local engine is timed by
batch_bench.run_once (a subprocess per worker count). Each Spark core count runs in a fresh child process (its own
JVM, master local[N]) that times, in order: the session start (JVM and SparkContext); a first job on the first
`--first` patients (cold Python workers, each building its checker: the time to the first record written); then the
whole input on the now-warm session (the steady state). The parent samples the child's process tree every 50 ms:
peak RSS of the JVM and of each Spark Python worker, and CPU seconds of both. /proc/loadavg is recorded before and
after every run, since other work on the machine slows all figures. Results go to bench/results/spark-bench-DATE.*.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.batch_bench import run_once, write_input  # noqa: E402  (the repository root is put on the path first)

RESULTS = ROOT / "bench" / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _children(pid: int) -> list[int]:
    """Children of every thread: the JVM starts Spark's Python daemon from a thread other than its main one."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(c) for c in children.read_text().split())
        except OSError:
            pass
    return found


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack.extend(_children(current))
    return pids


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command line, RSS KiB, CPU seconds) of a live process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        cpu = (int(fields[11]) + int(fields[12])) / TICKS  # its own: a reaped child is counted as itself
    except (OSError, IndexError, ValueError):
        return None
    return cmdline, rss, cpu


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process tree: each live process's own and its reaped children's (utime, stime, cutime, cstime)."""
    total = 0.0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / TICKS
    return total


class TreeSampler(threading.Thread):
    """Peak RSS and last-seen CPU time of every process under `pid` but `pid` itself (lost: a process's last 50 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.seen: dict[int, dict] = {}

    def run(self) -> None:
        while not self.done.is_set():
            for pid in _tree(self.pid)[1:]:
                stat = _stat(pid)
                if stat is None:
                    continue
                cmdline, rss, cpu = stat
                kind = "jvm" if "java" in cmdline.split(" ", 1)[0] else "worker" if "pyspark.daemon" in cmdline else ""
                entry = self.seen.setdefault(pid, {"kind": kind, "rss": 0, "cpu": 0.0})
                entry["kind"] = kind  # spark-submit's shell script becomes the JVM under the same pid
                entry["rss"], entry["cpu"] = max(entry["rss"], rss), max(entry["cpu"], cpu)
            time.sleep(0.05)

    def cpu(self) -> float:
        return sum(entry["cpu"] for entry in self.seen.values())

    def report(self) -> dict:
        jvm = [e for e in self.seen.values() if e["kind"] == "jvm"]
        # The daemon that forks the workers holds no checker; the workers are the ones that used CPU.
        workers = sorted((e for e in self.seen.values() if e["kind"] == "worker"), key=lambda e: -e["cpu"])
        return {
            "jvm_peak_rss_mib": round(max((e["rss"] for e in jvm), default=0) / 1024, 1),
            "jvm_cpu_s": round(sum(e["cpu"] for e in jvm), 1),
            "python_processes": len(workers),
            "python_worker_peak_rss_mib": [round(e["rss"] / 1024, 1) for e in workers if e["cpu"] > 1],
            "python_cpu_s": round(sum(e["cpu"] for e in workers), 1),
        }


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def worker_memory(batches):
    """Run in each Spark Python worker: its RSS (KiB) before and after it builds the command's checker."""
    import pyarrow as pa  # noqa: PLC0415  (pickled by value: its imports run in the worker)

    from service.batch import pool, spark  # noqa: PLC0415

    for _ in batches:
        pass
    before = _vm_kib("VmRSS")
    pool.ensure_worker(None, spark.DEFAULT_MAX_MEDICATIONS, "2026-11-25")  # the checker the command builds
    after = {"after_kib": _vm_kib("VmRSS"), "address_space_kib": _vm_kib("VmSize")}
    yield pa.RecordBatch.from_pylist([{"pid": os.getpid(), "before_kib": before, **after}])


def spark_child(args: argparse.Namespace) -> None:
    """In a fresh process: session start, the first job, the whole input; one JSON line on stdout."""
    from service.batch import cli, spark_engine  # noqa: PLC0415  (pyspark starts in the child only)

    options = cli.parse_args([str(args.input), "-o", "unused", "--engine", "spark", "--workers", str(args.cores)])
    started = time.perf_counter()
    spark, _ = spark_engine._session(options, bar=False)
    timings = {"session_s": time.perf_counter() - started}
    if args.memory:
        # Fresh workers report their RSS with pyspark, pyarrow and pandas imported, then with a checker built.
        probe = spark.range(args.cores * 8, numPartitions=args.cores * 4)
        memory = probe.mapInArrow(
            worker_memory, "pid long, before_kib long, after_kib long, address_space_kib long"
        ).collect()
        first = {}
        for row in memory:  # a reused worker reports again, its checker already built: keep its first report
            sizes = (row["before_kib"], row["after_kib"], row["address_space_kib"])
            first.setdefault(row["pid"], [round(size / 1024, 1) for size in sizes])
        print(json.dumps({"worker_mib_rss_before_rss_after_address_space": list(first.values())}), flush=True)
        return
    for name, path in (("first_job", args.first_input), ("steady_job", args.input)):
        output = Path(args.scratch) / name
        started, cpu = time.perf_counter(), tree_cpu(os.getpid())
        status = cli.main([str(path), "-o", str(output), "--engine", "spark", "--no-progress", "--format", "ndjson"])
        timings[f"{name}_s"] = time.perf_counter() - started
        timings[f"{name}_cpu_s"] = tree_cpu(os.getpid()) - cpu  # the JVM's and the Python workers' CPU
        if status != 0:
            raise SystemExit(f"the Spark run on {path} exited {status}")
        shutil.rmtree(output)
    print(json.dumps({key: round(value, 2) for key, value in timings.items()}), flush=True)


def run_spark(path: Path, first_path: Path, patients: int, first: int, cores: int, scratch: str) -> dict:
    command = [sys.executable, __file__, "--child", "--cores", str(cores), "--input", str(path)]
    command += ["--first-input", str(first_path), "--scratch", scratch]
    before = loadavg()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"the Spark child failed ({process.returncode}):\n{stderr.decode()[-3000:]}")
    timings = json.loads(stdout.decode().strip().splitlines()[-1])
    rate = patients / timings["steady_job_s"]
    return {
        "engine": f"spark local[{cores}]",
        "cores": cores,
        **timings,
        "patients_per_second": round(rate),
        "per_core": round(rate / cores),
        "patients_per_cpu_second": round(patients / timings["steady_job_cpu_s"]),
        # What the first job cost beyond checking its patients at the steady rate: workers, checkers, stages.
        "first_job_overhead_s": round(timings["first_job_s"] - first / rate, 2),
        **sampler.report(),
        "loadavg_before": before,
        "loadavg_after": loadavg(),
    }


def worker_memory_run(cores: int, path: Path) -> dict:
    """RSS of fresh Spark Python workers before and after building a checker (a child with its own session)."""
    command = [sys.executable, __file__, "--child", "--memory", "--cores", str(cores), "--input", str(path)]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"the memory probe failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_local(path: Path, patients: int, workers: int) -> dict:
    before = loadavg()
    # The pool's workers are the fork server's children, which no one waits for: sampled, as in the Spark runs.
    sampler = TreeSampler(os.getpid())
    sampler.start()
    result = run_once(path, patients, workers)
    sampler.done.set()
    sampler.join()
    cpu = sampler.cpu()
    return {
        "engine": f"local --workers {workers}",
        "cores": workers,
        "seconds": result["seconds"],
        "patients_per_second": result["patients_per_second"],
        "per_core": result["per_core"],
        "cpu_s": round(cpu, 1),
        "patients_per_cpu_second": round(patients / cpu),
        "peak_rss_total_mib": result["peak_rss_total_mib"],
        "loadavg_before": before,
        "loadavg_after": loadavg(),
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Spark engine benchmark ({report['date']})",
        "",
        f"Machine: {report['machine']}. Input: {report['patients']} synthetic patients (bench/batch_bench.py), "
        f"NDJSON, {report['input_mib']} MiB. Command: `{report['command']}`.",
        "",
        "| engine | time (s) | patients/s | per core | CPU s | patients per CPU second | load before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in report["local"]:
        lines.append(
            f"| {run['engine']} | {run['seconds']} | {run['patients_per_second']} | {run['per_core']} "
            f"| {run['cpu_s']} | {run['patients_per_cpu_second']} | {run['loadavg_before']} → {run['loadavg_after']} |"
        )
    for run in report["spark"]:
        lines.append(
            f"| {run['engine']} (warm session) | {run['steady_job_s']} | {run['patients_per_second']} "
            f"| {run['per_core']} | {run['steady_job_cpu_s']} | {run['patients_per_cpu_second']} "
            f"| {run['loadavg_before']} → {run['loadavg_after']} |"
        )
    lines += [
        "",
        "| Spark | session start (s) | first job, "
        f"{report['first']} patients (s) | its overhead (s) | JVM peak RSS (MiB) | Python worker peak RSS (MiB) "
        "| CPU s over the child's life: JVM / Python |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in report["spark"]:
        lines.append(
            f"| local[{run['cores']}] | {run['session_s']} | {run['first_job_s']} | {run['first_job_overhead_s']} "
            f"| {run['jvm_peak_rss_mib']} | {', '.join(map(str, run['python_worker_peak_rss_mib']))} "
            f"| {run['jvm_cpu_s']} / {run['python_cpu_s']} |"
        )
    sizes = report["worker_memory"]["worker_mib_rss_before_rss_after_address_space"]
    lines += [
        "",
        "Fresh Spark Python workers, RSS before → after building the checker (address space after), MiB: "
        + ", ".join(f"{before} → {after} ({space})" for before, after, space in sizes),
    ]
    lines += ["", "Scaling 1 → 2 cores (patients/s at 2 over patients/s at 1):"]
    for engine, ratio in report["scaling"].items():
        lines.append(f"- {engine}: {ratio}×")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--first", type=int, default=100, help="patients in the first (cold) Spark job")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--first-input", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.cores = args.cores[0]
        spark_child(args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        path, first_path = Path(scratch) / "patients.ndjson", Path(scratch) / "first.ndjson"
        write_input(path, args.patients, "ndjson")
        write_input(first_path, args.first, "ndjson")
        report = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}",
            "command": " ".join(["bench/spark_bench.py", *sys.argv[1:]]),
            "patients": args.patients,
            "first": args.first,
            "input_mib": round(path.stat().st_size / 2**20, 1),
            "local": [],
            "spark": [],
        }
        for cores in args.cores:
            report["local"].append(run_local(path, args.patients, cores))
            print(json.dumps(report["local"][-1]), flush=True)
        for cores in args.cores:
            report["spark"].append(run_spark(path, first_path, args.patients, args.first, cores, scratch))
            print(json.dumps(report["spark"][-1]), flush=True)
        report["worker_memory"] = worker_memory_run(max(args.cores), first_path)
        print(json.dumps(report["worker_memory"]), flush=True)
    report["scaling"] = {}
    for kind in ("local", "spark"):
        rates = {run["cores"]: run["patients_per_second"] for run in report[kind]}
        if 1 in rates and 2 in rates:
            report["scaling"][kind] = round(rates[2] / rates[1], 2)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"spark-bench-{datetime.date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
