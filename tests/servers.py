"""Start the real service under gunicorn on 127.0.0.1 for tests that need the deployed shape."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port():
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(base, path, body=None, method=None, headers=None, timeout=10):
    """One HTTP request; returns (status, headers, parsed JSON or raw bytes)."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            status, response_headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, response_headers = error.read(), error.code, dict(error.headers)
    try:
        return status, response_headers, json.loads(raw)
    except ValueError:
        return status, response_headers, raw


def worker_pids(master_pid):
    """The pids of a gunicorn master's worker processes."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    if children.exists():
        return [int(pid) for pid in children.read_text().split()]
    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in out.stdout.split()]


@contextlib.contextmanager
def running_gunicorn(
    env_overrides=None,
    workers=2,
    worker_class="sync",
    threads=1,
    app="service.wsgi:app",
    startup_timeout=30,
    log_path=None,
):
    """Run `gunicorn -c gunicorn.conf.py <app>` from the repo root; yield (base_url, process); always stop it."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "LDN_BIND": f"127.0.0.1:{port}",
            "LDN_WORKERS": str(workers),
            "LDN_WORKER_CLASS": worker_class,
            "LDN_THREADS": str(threads),
        }
    )
    env.update(env_overrides or {})
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode} during start-up")
            try:
                status, _, _ = request(base, "/healthz", timeout=1)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start in time")
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if log_path:
            log.close()
