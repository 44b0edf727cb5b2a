"""The benchmark of issue 6: the real service against a bare-Flask ceiling, under the deployed gunicorn settings.

    make bench                      # or: .venv/bin/python bench/run.py [--rounds 4 --seconds 10 ...]

What it does (every server is started here on a free 127.0.0.1 port and stopped in `finally`):
1. starts the real app (`gunicorn -c gunicorn.conf.py service.wsgi:app`) and the bare app
   (`bench.bare_app:app`, same config), LDN_WORKERS workers each (default 2);
2. for each body in bench/bodies, alternates real/bare (A B A B) over --rounds rounds of --seconds with wrk
   (--connections, --threads), recording requests/s, p50/p99, errors and worker RSS;
3. drives both apps at a fixed rate (--rate req/s, bench/rategen.py: Debian has no wrk2) for p99 at the same load;
4. measures start-up (launch -> /readyz 200) over --startups fresh launches, and a worker's respawn time;
5. soaks a fresh real app with --soak requests (wrk, fixed count) and compares worker RSS before/after;
6. runs bench/inprocess.py (stage costs) and bench/profile_check.py (cProfile) in fresh processes;
7. writes bench/results/latest.json and bench/results/latest.md.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
GUNICORN = str(VENV_BIN / "gunicorn")
REAL_APP = "service.wsgi:app"
BARE_APP = "bench.bare_app:app"
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Server:
    """One gunicorn master with its workers, started with the repository's gunicorn.conf.py."""

    def __init__(self, app, workers, label):
        self.app, self.workers, self.label = app, workers, label
        self.port = free_port()
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{label}-", suffix=".log", delete=False)
        self.started = None

    def start(self):
        env = dict(os.environ, LDN_BIND=f"{HOST}:{self.port}", LDN_WORKERS=str(self.workers))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py", self.app],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        return self

    def get(self, path, timeout=2.0):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def post(self, path, body, timeout=5.0):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def wait_ready(self, timeout=30.0):
        """Seconds from launch until /readyz answers 200 (and until all workers exist)."""
        deadline = self.started + timeout
        ready = None
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}: {self.tail()}")
            if ready is None:
                try:
                    status, _ = self.get("/readyz", timeout=0.5)
                    if status == 200:
                        ready = time.perf_counter() - self.started
                except OSError:
                    pass
            if ready is not None and len(self.worker_pids()) >= self.workers:
                return ready, time.perf_counter() - self.started
            time.sleep(0.005)
        raise RuntimeError(f"{self.label} not ready in {timeout}s: {self.tail()}")

    def worker_pids(self):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as handle:
                return sorted(int(p) for p in handle.read().split())
        except OSError:
            return []

    def rss(self):
        return {pid: rss_kb(pid) for pid in self.worker_pids()}

    def tail(self, lines=15):
        try:
            return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def crashes(self):
        """Worker deaths gunicorn logged (signals, non-zero exits)."""
        text = Path(self.log.name).read_text(errors="replace")
        return len(re.findall(r"Worker \(pid:\d+\) was sent|Worker \(pid:\d+\) exited with code", text))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(25)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session this script created for this server
            self.proc.wait(5)

    def close(self):
        self.stop()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


HZ = os.sysconf("SC_CLK_TCK")


def cpu_busy_jiffies():
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


def proc_jiffies(pid):
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12])  # utime + stime
    except (OSError, IndexError):
        return 0


def server_jiffies(server):
    """CPU (user + system, jiffies) used so far by one server's master and workers."""
    return sum(proc_jiffies(p) for p in [server.proc.pid, *server.worker_pids()])


class ForeignCpu:
    """CPU used on the machine during a run by processes other than ours (the servers, wrk, rategen).

    Other work on a shared 2-core machine (a test suite, a build) lowers both apps' figures; the A B A B order
    spreads it over both, and this number says how much there was (in cores, averaged over the run)."""

    def __init__(self, servers):
        self.servers = servers

    def _ours(self):
        pids = [p for s in self.servers for p in [s.proc.pid, *s.worker_pids()]]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return sum(proc_jiffies(p) for p in pids) + (children.ru_utime + children.ru_stime) * HZ

    def __enter__(self):
        self.t0, self.busy0, self.ours0 = time.perf_counter(), cpu_busy_jiffies(), self._ours()
        return self

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.t0
        foreign = (cpu_busy_jiffies() - self.busy0) - (self._ours() - self.ours0)
        self.cores = round(max(0.0, foreign / HZ / elapsed), 2)
        return False


def run_wrk(port, body, seconds, connections, threads, limit=0):
    env = dict(os.environ, BENCH_BODY=str(body), BENCH_LIMIT=str(limit))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(BENCH / "post.lua"),
        f"http://{HOST}:{port}/v1/check",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(text for text in out.splitlines() if text.startswith("BENCH_JSON "))
    data = json.loads(line[len("BENCH_JSON ") :])
    seconds_run = data["duration_us"] / 1e6
    errors = data["connect"] + data["read"] + data["write"] + data["status"] + data["timeout"]
    return {
        "requests": data["requests"],
        "rps": round(data["requests"] / seconds_run, 1),
        "p50_ms": data["lat_p50_us"] / 1000,
        "p90_ms": data["lat_p90_us"] / 1000,
        "p99_ms": data["lat_p99_us"] / 1000,
        "max_ms": data["lat_max_us"] / 1000,
        "errors": errors,
        "errors_detail": {k: data[k] for k in ("connect", "read", "write", "status", "timeout")},
    }


def run_rate(port, body, rate, seconds):
    cmd = [
        sys.executable,
        str(BENCH / "rategen.py"),
        "--port",
        str(port),
        "--body",
        str(body),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(text for text in out.splitlines() if text.startswith("BENCH_JSON "))
    return json.loads(line[len("BENCH_JSON ") :])


def preflight(server, body):
    """One request before load: the real answer, so a benchmark of 500s cannot pass for a fast service."""
    raw = body.read_bytes().split(b"\n", 1)[0] if body.suffix == ".ndjson" else body.read_bytes()
    try:
        status, data = server.post("/v1/check", raw)
    except OSError as error:
        return {"status": None, "error": repr(error)}
    result = {"status": status, "bytes": len(data)}
    try:
        doc = json.loads(data)
        result["alert_codes"] = [a["code"] for a in doc.get("alerts", [])] if isinstance(doc, dict) else None
    except ValueError:
        pass
    return result


def varied_bodies(count):
    """A .ndjson of `count` different patients (bench/batch_bench.py's realistic lists), posted in turn: the answer
    to whether a change helps only a benchmark that repeats one body. Written to a temporary folder."""
    sys.path.insert(0, str(ROOT))
    from bench.batch_bench import patients  # noqa: PLC0415  (the repository root is on the path only from here)

    path = Path(tempfile.mkdtemp(prefix="ldn-bench-")) / "varied_patients.ndjson"
    with path.open("w", encoding="utf-8") as handle:
        for patient in patients(count):
            patient.pop("patient_id")  # a batch field, not part of the native request
            handle.write(json.dumps(patient) + "\n")
    return path


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def machine():
    model = next(
        (
            text.split(":", 1)[1].strip()
            for text in Path("/proc/cpuinfo").read_text().splitlines()
            if text.startswith("model name")
        ),
        "unknown",
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1]
    from importlib.metadata import version  # noqa: PLC0415

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_version[0] if wrk_version else "?",
        "durable_rules": version("durable_rules"),
        "gunicorn": version("gunicorn"),
        "flask": version("Flask"),
        "werkzeug": version("Werkzeug"),
        "marshmallow": version("marshmallow"),
    }


def throughput(args, bodies):
    results = {}
    real = Server(REAL_APP, args.workers, "real")
    bare = Server(BARE_APP, args.workers, "bare")
    try:
        real.start()
        real.wait_ready()
        bare.start()
        bare.wait_ready()
        for body in bodies:
            name = body.stem
            print(f"== {name}", flush=True)
            entry = {"preflight": {"real": preflight(real, body), "bare": preflight(bare, body)}}
            before = {"real": real.rss(), "bare": bare.rss()}
            crashes_before = real.crashes()
            runs = {"real": [], "bare": []}
            for round_no in range(args.rounds):
                for label, server in (("real", real), ("bare", bare)):
                    pids = server.worker_pids()
                    cpu0 = server_jiffies(server)
                    with ForeignCpu([real, bare]) as foreign:
                        run = run_wrk(server.port, body, args.seconds, args.connections, args.threads)
                    run["foreign_cpu_cores"] = foreign.cores
                    # The server's own CPU per answered request (workers replaced mid-run would undercount it).
                    used_ms = (server_jiffies(server) - cpu0) * 1000 / HZ
                    run["cpu_ms_per_request"] = round(used_ms / run["requests"], 3) if run["requests"] else None
                    run["workers_replaced"] = len(set(pids) - set(server.worker_pids()))
                    runs[label].append(run)
                    print(
                        f"  round {round_no + 1} {label}: {run['rps']} req/s p50 {run['p50_ms']} ms "
                        f"p99 {run['p99_ms']} ms errors {run['errors']} other CPU {run['foreign_cpu_cores']} cores",
                        flush=True,
                    )
            after = {"real": real.rss(), "bare": bare.rss()}
            summary = {}
            for label in ("real", "bare"):
                rs = runs[label]
                summary[label] = {
                    "rps_median": median([r["rps"] for r in rs]),
                    "p50_ms_median": median([r["p50_ms"] for r in rs]),
                    "p99_ms_median": median([r["p99_ms"] for r in rs]),
                    "errors": sum(r["errors"] for r in rs),
                    "requests": sum(r["requests"] for r in rs),
                    "workers_replaced": sum(r["workers_replaced"] for r in rs),
                    "foreign_cpu_cores_max": max(r["foreign_cpu_cores"] for r in rs),
                    "cpu_ms_per_request_median": median([r["cpu_ms_per_request"] for r in rs]),
                    "rss_kb_before": before[label],
                    "rss_kb_after": after[label],
                }
            ratios = [a["rps"] / b["rps"] for a, b in zip(runs["real"], runs["bare"], strict=False) if b["rps"]]
            summary["ratio_rps_median"] = median(ratios)
            real_cpu, bare_cpu = (
                summary["real"]["cpu_ms_per_request_median"],
                summary["bare"]["cpu_ms_per_request_median"],
            )
            summary["own_cpu_ms_per_request"] = (
                round(real_cpu - bare_cpu, 3) if real_cpu is not None and bare_cpu is not None else None
            )
            summary["ratio_rps_per_round"] = [round(r, 3) for r in ratios]
            summary["ratio_p99"] = (
                round(summary["real"]["p99_ms_median"] / summary["bare"]["p99_ms_median"], 3)
                if summary["bare"]["p99_ms_median"]
                else None
            )
            summary["real"]["worker_deaths_logged"] = real.crashes() - crashes_before
            entry.update(summary=summary, runs=runs)
            results[name] = entry
            if args.rate and name == args.rate_body:
                fixed = {}
                for label, server in (("real", real), ("bare", bare)):
                    with ForeignCpu([real, bare]) as foreign:
                        fixed[label] = run_rate(server.port, body, args.rate, args.rate_seconds)
                    fixed[label]["foreign_cpu_cores"] = foreign.cores
                    print(f"  fixed {args.rate}/s {label}: {fixed[label]}", flush=True)
                fixed["ratio_p99"] = (
                    round(fixed["real"]["p99_ms"] / fixed["bare"]["p99_ms"], 3) if fixed["bare"]["p99_ms"] else None
                )
                entry["fixed_rate"] = fixed
    finally:
        real.close()
        bare.close()
    return results


def startup(args):
    launches = []
    respawn = None
    for index in range(args.startups):
        server = Server(REAL_APP, args.workers, f"startup{index}")
        try:
            server.start()
            ready, all_workers = server.wait_ready()
            launches.append(
                {
                    "ready_s": round(ready, 3),
                    "all_workers_s": round(all_workers, 3),
                    "worker_rss_kb": server.rss(),
                    "master_rss_kb": rss_kb(server.proc.pid),
                }
            )
            if index == 0:
                # A worker's own boot: kill one worker (ours) and time until gunicorn's replacement exists.
                pids = server.worker_pids()
                killed_at = time.perf_counter()
                os.kill(pids[0], signal.SIGKILL)
                while time.perf_counter() - killed_at < 10:
                    now = server.worker_pids()
                    if len(now) >= args.workers and pids[0] not in now:
                        respawn = round(time.perf_counter() - killed_at, 3)
                        break
                    time.sleep(0.002)
        finally:
            server.close()
    return {
        "launches": launches,
        "ready_s_median": median([launch["ready_s"] for launch in launches]),
        "ready_s_max": max(launch["ready_s"] for launch in launches),
        "worker_respawn_s": respawn,
    }


def soak(args, body):
    server = Server(REAL_APP, args.workers, "soak")
    try:
        server.start()
        server.wait_ready()
        at_ready = server.rss()
        pf = preflight(server, body)
        warm = run_wrk(server.port, body, args.soak_warmup_seconds, args.connections, args.threads)
        before = server.rss()
        started = time.perf_counter()
        # wrk cannot stop at a request count (a stopped thread still waits for -d), so: 10 s runs until the
        # count is reached (the total overshoots by less than one run), bounded by --soak-max-seconds.
        chunks = []
        with ForeignCpu([server]) as foreign:
            while (
                sum(c["requests"] for c in chunks) < args.soak and time.perf_counter() - started < args.soak_max_seconds
            ):
                chunks.append(run_wrk(server.port, body, 10, args.connections, args.threads))
                if chunks[-1]["requests"] == 0:
                    break
        total = sum(c["requests"] for c in chunks)
        load = {
            "requests": total,
            "rps": round(total / (time.perf_counter() - started), 1),
            "errors": sum(c["errors"] for c in chunks),
            "p99_ms": max(c["p99_ms"] for c in chunks),
        }
        elapsed = time.perf_counter() - started
        after = server.rss()
        growth = {}
        for pid, kb in before.items():
            if pid in after and kb and after[pid]:
                growth[pid] = round((after[pid] - kb) / kb * 100, 2)
        return {
            "body": body.stem,
            "preflight": pf,
            "warmup_requests": warm["requests"],
            "requests": load["requests"],
            "p99_ms_note": "worst 10 s chunk",
            "seconds": round(elapsed, 1),
            "rps": load["rps"],
            "errors": warm["errors"] + load["errors"],
            "p99_ms": load["p99_ms"],
            "rss_kb_at_ready": at_ready,
            "rss_kb_before": before,
            "rss_kb_after": after,
            "growth_pct": growth,
            "workers_replaced": len(set(before) - set(after)),
            "worker_deaths_logged": server.crashes(),
            "foreign_cpu_cores": foreign.cores,
        }
    finally:
        server.close()


def run_script(name, extra=()):
    cmd = [sys.executable, str(BENCH / name), *extra]
    print(f"== {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    sys.stdout.write(proc.stderr[-2000:])
    line = next((text for text in proc.stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        return {"error": f"exit {proc.returncode}", "stdout_tail": proc.stdout[-2000:]}
    return json.loads(line[len("BENCH_JSON ") :])


def kb_mb(kb):
    return None if kb is None else round(kb / 1024, 1)


def verdict(ok):
    return "met" if ok else "NOT met"


def markdown(report):
    t = report["throughput"]
    m = report["machine"]
    lines = [
        f"# Benchmark results ({report['taken']})",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, Linux {m['kernel']}; {m['wrk']}; "
        f"gunicorn {m['gunicorn']}, Flask {m['flask']}. Settings: {report['settings']}.",
        "",
        "## Throughput and latency (wrk, saturating, medians over rounds, A B A B)",
        "",
        "| body | app | req/s | p50 ms | p99 ms | errors | workers replaced | ratio to ceiling (req/s) | p99 ratio | "
        "server CPU ms/request | service's own CPU ms/request | other CPU (cores, max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in t.items():
        s = entry["summary"]
        for label in ("real", "bare"):
            x = s[label]
            ratio = f"{s['ratio_rps_median']}" if label == "real" else "1 (ceiling)"
            p99r = f"{s['ratio_p99']}" if label == "real" else ""
            own = f"{s.get('own_cpu_ms_per_request')}" if label == "real" else ""
            lines.append(
                f"| {name} | {label} | {x['rps_median']} | {x['p50_ms_median']} | {x['p99_ms_median']} | "
                f"{x['errors']} / {x['requests']} | {x['workers_replaced']} | {ratio} | {p99r} | "
                f"{x.get('cpu_ms_per_request_median')} | {own} | {x['foreign_cpu_cores_max']} |"
            )
    lines += [
        "",
        "Preflight (one request before load): "
        + "; ".join(
            f"{n}: real {e['preflight']['real'].get('status')} {e['preflight']['real'].get('alert_codes')}"
            for n, e in t.items()
        ),
        "",
    ]
    fixed = next((e["fixed_rate"] for e in t.values() if "fixed_rate" in e), None)
    if fixed:
        lines += [
            "## Fixed rate (bench/rategen.py, open loop, latency from the due time)",
            "",
            "| app | target req/s | achieved | p50 ms | p99 ms | p99.9 ms | max ms | errors | other CPU (cores) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label in ("real", "bare"):
            f = fixed[label]
            lines.append(
                f"| {label} | {f['target_rate']} | {f['achieved_rate']} | {f['p50_ms']} | {f['p99_ms']} | "
                f"{f['p999_ms']} | {f['max_ms']} | {f['errors_status'] + f['errors_socket']} | {f['foreign_cpu_cores']} |"
            )
        lines.append("")
    ip = report.get("inprocess", {})
    if "bodies" in ip:
        lines += [
            "## In-process stage costs (µs per request; median / p99)",
            "",
            "| body | stage | warm caches | cold caches |",
            "|---|---|---|---|",
        ]
        for name, stages in ip["bodies"].items():
            for stage, v in stages.items():
                if not isinstance(v, dict):
                    lines.append(f"| {name} | {stage} | {v} | |")
                    continue
                w, c = v.get("warm"), v.get("cold")
                fmt = lambda d: f"{d['median_us']} / {d['p99_us']}" if d else "—"  # noqa: E731
                lines.append(f"| {name} | {stage} | {fmt(w)} | {fmt(c)} |")
        lines += ["", f"Vocabulary + rules load (fresh process): {ip.get('load')}", ""]
    pr = report.get("profile", {})
    if "flask_split" in pr:
        lines += [
            f"## Profile split (cProfile, {pr['iterations']} requests, {pr['body']}; bench/results/profile.txt)",
            "",
            "| stage | % of Flask request path | % of Checker.check |",
            "|---|---|---|",
        ]
        for stage, pct in pr["flask_split"].items():
            lines.append(f"| {stage} | {pct} | {pr['check_split'].get(stage, '')} |")
        for stage, pct in pr["check_split"].items():
            if stage not in pr["flask_split"]:
                lines.append(f"| {stage} | | {pct} |")
        w = pr["wsgi_unprofiled_us"]
        lines += [
            "",
            f"Unprofiled WSGI call per request (µs median / p99): real {w['real']['median_us']} / "
            f"{w['real']['p99_us']}, bare {w['bare']['median_us']} / {w['bare']['p99_us']}.",
            "",
        ]
    st = report.get("startup")
    if st:
        lines += [
            "## Start-up",
            "",
            f"launch → /readyz 200: median {st['ready_s_median']} s, max {st['ready_s_max']} s "
            f"over {len(st['launches'])} launches; a killed worker replaced in {st['worker_respawn_s']} s.",
            "",
        ]
    sk = report.get("soak")
    if sk:
        lines += [
            "## Soak",
            "",
            f"{sk['requests']} requests ({sk['body']}) in {sk['seconds']} s, {sk['rps']} req/s, "
            f"errors {sk['errors']}; worker RSS kB at ready {sk['rss_kb_at_ready']}, after warm-up "
            f"{sk['rss_kb_before']}, after soak {sk['rss_kb_after']}; growth % {sk['growth_pct']}.",
            "",
        ]
    lines += [
        "## Targets (issue 17; the in-process and memory rows are issue 6's)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for row in report["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {row['verdict']} |")
    return "\n".join(lines) + "\n"


# Issue 17's throughput targets: the least ratio to the bare-Flask ceiling per body (bodies not named: none).
RATIO_TARGETS = {"ldn_opioid_10": 0.5, "mixed_30": 0.35}
P99_RATIO_TARGET = 1.5


def targets(report, main_body):
    rows = []
    for name, entry in report["throughput"].items():
        s = entry["summary"]
        goal = RATIO_TARGETS.get(name)
        if goal is not None:
            rows.append(
                {
                    "target": f"throughput ≥ {goal} × ceiling ({name}), 0 errors",
                    "measured": f"{s['ratio_rps_median']} × ({s['real']['rps_median']} vs "
                    f"{s['bare']['rps_median']} req/s), {s['real']['errors']} errors",
                    "verdict": verdict(s["ratio_rps_median"] >= goal and s["real"]["errors"] == 0),
                }
            )
        rows.append(
            {
                "target": f"service's own CPU per request reported ({name})",
                "measured": f"{s.get('own_cpu_ms_per_request')} ms (server {s['real'].get('cpu_ms_per_request_median')} "
                f"ms − ceiling {s['bare'].get('cpu_ms_per_request_median')} ms per request)",
                "verdict": verdict(s.get("own_cpu_ms_per_request") is not None),
            }
        )
    t = report["throughput"].get(main_body)
    if t:
        s = t["summary"]
        f = t.get("fixed_rate")
        if f:
            rows.append(
                {
                    "target": f"p99 ≤ {P99_RATIO_TARGET} × ceiling p99 at {f['real']['target_rate']:.0f} req/s",
                    "measured": f"{f['ratio_p99']} × ({f['real']['p99_ms']} vs {f['bare']['p99_ms']} ms; achieved "
                    f"{f['real']['achieved_rate']} req/s); saturated wrk: {s['ratio_p99']} ×",
                    "verdict": verdict(
                        f["ratio_p99"] is not None
                        and f["ratio_p99"] <= P99_RATIO_TARGET
                        and f["real"]["achieved_rate"] >= 0.98 * f["real"]["target_rate"]
                    ),
                }
            )
    ip = report.get("inprocess", {}).get("bodies", {}).get(main_body)
    if ip:
        n = ip.get("normalise")
        if isinstance(n, dict):
            rows.append(
                {
                    "target": "normalisation of 10 meds < 0.5 ms",
                    "measured": f"warm median {n['warm']['median_us']} µs (p99 {n['warm']['p99_us']}); cold median "
                    f"{n['cold']['median_us']} µs (p99 {n['cold']['p99_us']})",
                    "verdict": f"warm {verdict(n['warm']['median_us'] < 500)}, cold {verdict(n['cold']['median_us'] < 500)}",
                }
            )
        e = ip.get("engine")
        if isinstance(e, dict):
            rows.append(
                {
                    "target": "engine < 0.3 ms median (10 meds)",
                    "measured": f"median {e['warm']['median_us']} µs (p99 {e['warm']['p99_us']})",
                    "verdict": verdict(e["warm"]["median_us"] < 300),
                }
            )
    rss_values = []
    for entry in report["throughput"].values():
        rss_values += [v for v in entry["summary"]["real"]["rss_kb_after"].values() if v]
    if report.get("soak"):
        rss_values += [v for v in report["soak"]["rss_kb_after"].values() if v]
    if rss_values:
        rows.append(
            {
                "target": "worker RSS < 150 MB",
                "measured": f"max {kb_mb(max(rss_values))} MB",
                "verdict": verdict(max(rss_values) < 150 * 1024),
            }
        )
    sk = report.get("soak")
    if sk:
        worst = max(sk["growth_pct"].values()) if sk["growth_pct"] else None
        rows.append(
            {
                "target": f"RSS growth ≤ 5% over the soak ({sk['requests']} requests)",
                "measured": f"{worst}% worst worker over {sk['requests']} requests, {sk['errors']} errors",
                "verdict": verdict(worst is not None and worst <= 5 and sk["workers_replaced"] == 0),
            }
        )
    st = report.get("startup")
    if st:
        rows.append(
            {
                "target": "start-up < 3 s",
                "measured": f"max {st['ready_s_max']} s (median {st['ready_s_median']} s)",
                "verdict": verdict(st["ready_s_max"] < 3),
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description="Benchmark the service against a bare-Flask ceiling (issue 6).")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("LDN_WORKERS", "2")))
    parser.add_argument("--rate", type=float, default=500.0, help="fixed-rate run (0 to skip)")
    parser.add_argument("--rate-seconds", type=float, default=20.0)
    parser.add_argument("--rate-body", default="ldn_opioid_10")
    parser.add_argument("--soak", type=int, default=100_000, help="soak requests (0 to skip)")
    parser.add_argument("--soak-warmup-seconds", type=int, default=3)
    parser.add_argument("--soak-max-seconds", type=int, default=600)
    parser.add_argument("--startups", type=int, default=3)
    parser.add_argument("--bodies", nargs="*", help="body names (default: all in bench/bodies, and varied_patients)")
    parser.add_argument("--varied", type=int, default=5000, help="distinct patients in the varied_patients body")
    parser.add_argument("--no-inprocess", action="store_true")
    parser.add_argument("--output", default=str(RESULTS / "latest"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run every `finally`: no server left behind
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is not installed (apt-get install wrk); `make bench` installs it")
    bodies = sorted((BENCH / "bodies").glob("*.json"))
    # The 10-medication opioid body first; a body that crashes workers last, so it cannot skew the others.
    order = {"ldn_opioid_10": 0, "mixed_30": 1, "clean_10": 2}
    bodies.sort(key=lambda p: order.get(p.stem, 9))
    bodies.append(varied_bodies(args.varied))
    if args.bodies:
        bodies = [b for b in bodies if b.stem in args.bodies]
    report = {
        "taken": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": (
            f"{args.workers} sync workers (gunicorn.conf.py), wrk -t{args.threads} -c{args.connections}, "
            f"{args.rounds} rounds × {args.seconds} s per app per body, fixed rate {args.rate:g} req/s for "
            f"{args.rate_seconds:g} s, soak {args.soak} requests; load generator on the same 2 cores"
        ),
    }
    report["throughput"] = throughput(args, bodies)
    report["startup"] = startup(args) if args.startups else None
    report["soak"] = soak(args, BENCH / "bodies" / f"{args.rate_body}.json") if args.soak else None
    if not args.no_inprocess:
        report["inprocess"] = run_script("inprocess.py")
        report["profile"] = run_script("profile_check.py")
    report["targets"] = targets(report, args.rate_body)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
