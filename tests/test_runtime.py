"""What the process may use where it runs: CPU quota, a writable metrics directory, and the gunicorn settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.runtime import available_cpus, cgroup_cpu_limit, metrics_directory

ROOT = Path(__file__).resolve().parent.parent


def cgroup(tmp_path, v2=None, v1=None):
    """A cgroup filesystem as the kernel writes it: cpu.max (v2) or cpu/cpu.cfs_{quota,period}_us (v1)."""
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("v2", "v1", "limit"),
    [
        ("200000 100000", None, 2.0),
        ("150000 100000", None, 1.5),
        ("max 100000", None, None),
        (None, (300000, 100000), 3.0),
        (None, (-1, 100000), None),
        (None, None, None),
    ],
)
def test_the_cgroup_quota_is_read_in_both_versions(tmp_path, v2, v1, limit):
    assert cgroup_cpu_limit(cgroup(tmp_path, v2, v1)) == limit


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        ("50000 100000", 1),  # half a CPU: one worker, never none
        ("150000 100000", 2),  # 1.5 CPUs: rounded up
        ("6400000 100000", None),  # a 64-CPU quota on a smaller machine: the CPUs it has
    ],
)
def test_a_quota_caps_the_cpus_rounded_up_never_below_one(tmp_path, quota, expected):
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(cgroup(tmp_path, quota)) == min(expected or affinity, affinity)


def test_gunicorn_defaults_workers_to_the_usable_cpus_not_the_hosts_cores():
    env = {k: v for k, v in os.environ.items() if k != "LDN_WORKERS"}
    out = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    workers = int(next(line.split("=")[1] for line in out.stdout.splitlines() if line.startswith("workers ")))
    assert workers == available_cpus()


def test_an_unwritable_metrics_directory_falls_back_with_one_line(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a directory cannot be made under a file, whoever the user is
    fallback = tmp_path / "shm"
    fallback.mkdir()
    chosen = metrics_directory(str(blocked / "prometheus"), (str(fallback),))
    assert Path(chosen).parent == fallback and os.access(chosen, os.W_OK)
    assert "is not writable" in capsys.readouterr().err


def test_no_writable_directory_exits_with_what_to_mount(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(SystemExit) as stop:
        metrics_directory(str(blocked / "prometheus"), (str(blocked / "nowhere"),))
    assert "--tmpfs" in str(stop.value)


def test_gunicorn_with_an_unwritable_metrics_directory_starts_on_the_fallback(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(blocked / "prometheus")}
    out = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "is not writable" in out.stderr


def test_no_usable_temporary_directory_is_none_not_a_crash(monkeypatch):
    import tempfile

    from service.runtime import temporary_directory

    def nowhere():
        raise FileNotFoundError("No usable temporary directory found")

    monkeypatch.setattr(tempfile, "gettempdir", nowhere)  # a read-only root without a tmpfs
    assert temporary_directory() is None
