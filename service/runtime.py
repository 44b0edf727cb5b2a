"""What the process may use where it runs: CPUs under a container's quota, a writable metrics directory, a secret
that is not a placeholder. gunicorn.conf.py and create_app ask here before they start anything."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

MIN_API_KEY_BYTES = 32
# Keys that ship in examples and documentation: a service that accepts one is open to anyone who read them.
_PLACEHOLDER_WORDS = ("replace", "placeholder", "changeme", "change-me", "example", "secret", "s3cret", "xxxx")


class ConfigurationError(RuntimeError):
    """A setting the service refuses to start with; the message says what to change."""


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the container's CFS quota (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us), or None if unlimited."""
    cpu_max = root / "cpu.max"
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        v1_quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        v1_period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return v1_quota / v1_period if v1_quota > 0 and v1_period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus(root: Path = Path("/sys/fs/cgroup")) -> int:
    """Whole CPUs this process may run on: the affinity mask, capped by the cgroup quota (rounded up, at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def default_workers(root: Path = Path("/sys/fs/cgroup")) -> int:
    """One sync worker per usable CPU (the rules engine holds the GIL), never the host's core count in a pod."""
    return available_cpus(root)


def temporary_directory() -> str | None:
    """The platform's temporary directory, or None when none is writable (a read-only container without a tmpfs:
    tempfile.gettempdir() raises there)."""
    try:
        return tempfile.gettempdir()
    except FileNotFoundError:
        return None


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            return True
    except OSError:
        return False


def metrics_directory(configured: str | None, fallbacks: tuple[str, ...] = ("/dev/shm",)) -> str:
    """A writable directory for the workers' shared metrics: the configured one, else a fresh one in a fallback.
    Exits with one line saying what to mount when there is none (a read-only container without a tmpfs)."""
    if configured and _writable(configured):
        return configured
    for parent in fallbacks:
        if os.path.isdir(parent) and _writable(parent):
            made = tempfile.mkdtemp(prefix=f"ldn-prometheus-{os.getpid()}-", dir=parent)
            if configured:
                print(
                    f"ldn-safety: PROMETHEUS_MULTIPROC_DIR={configured} is not writable; using {made}", file=sys.stderr
                )
            return made
    raise SystemExit(
        f"ldn-safety: no writable directory for metrics (PROMETHEUS_MULTIPROC_DIR={configured or 'unset'}): mount "
        "a tmpfs there (docker run --read-only --tmpfs /tmp) or point PROMETHEUS_MULTIPROC_DIR at a writable path"
    )


def check_api_key(key: str | None) -> None:
    """Refuse a native API key that anyone could know: a placeholder from the examples, or fewer than 32 bytes."""
    if key is None:
        return
    if not isinstance(key, str) or len(key.encode()) < MIN_API_KEY_BYTES:
        raise ConfigurationError(
            f"LDN_API_KEY must be at least {MIN_API_KEY_BYTES} bytes; generate one with `openssl rand -hex 32`."
        )
    lowered = key.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        raise ConfigurationError(
            "LDN_API_KEY is a placeholder from the examples; generate one with `openssl rand -hex 32`."
        )
