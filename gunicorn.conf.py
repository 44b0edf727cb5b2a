"""Production gunicorn settings; every value can be overridden from the environment (LDN_*)."""

import glob
import os
import shutil

from gunicorn import glogging

from service.runtime import default_workers, metrics_directory, temporary_directory

bind = [os.environ.get("LDN_BIND", "127.0.0.1:8080")]
# /metrics on its own port (LDN_METRICS_PORT), on the same interface: the app answers it only there, so a
# NetworkPolicy or a firewall can keep it off the public path.
if os.environ.get("LDN_METRICS_PORT"):
    bind.append(bind[0].rsplit(":", 1)[0] + ":" + os.environ["LDN_METRICS_PORT"])
# The rules engine holds the GIL, so one sync worker per usable CPU: the container's CPU quota and affinity,
# not the host's cores (a pod on a 64-core node must not start 64 workers).
workers = int(os.environ.get("LDN_WORKERS") or default_workers())
worker_class = os.environ.get("LDN_WORKER_CLASS", "sync")
threads = int(os.environ.get("LDN_THREADS", "1"))
timeout = int(os.environ.get("LDN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("LDN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("LDN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("LDN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("LDN_MAX_REQUESTS_JITTER", "0"))
# Load the vocabulary and compile the rules once, before forking: workers share the pages and start fast.
preload_app = os.environ.get("LDN_PRELOAD", "true").lower() == "true"
# Header abuse: bounded request line and headers.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# A writable heartbeat directory that works with a read-only root filesystem.
worker_tmp_dir = os.environ.get("LDN_WORKER_TMP_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else None)
loglevel = os.environ.get("LDN_LOG_LEVEL", "info").lower()
# The app writes its own JSON access line without bodies; gunicorn's access log is off.
accesslog = None


class _NoAccessLogger(glogging.Logger):
    """gunicorn's logger without its access log: with logconfig_dict set it would build the access atoms for every
    request (3-4 % of a worker's time under load, py-spy) only to drop them."""

    def access(self, resp, req, environ, request_time):
        return None


logger_class = _NoAccessLogger
errorlog = "-"
proc_name = "ldn-safety"
# gunicorn 27's control socket would need a writable home directory; the service does not use it.
control_socket_disable = True

# --- Prometheus multiprocess metrics -------------------------------------------------------------------------
# Every worker writes its metrics to files in one directory and /metrics merges them. The variable must be in
# the environment before prometheus_client is imported, which preload_app does before any hook runs, so it is
# set here; the directory is created here too (preloaded metrics open their files) and wiped in on_starting.

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Only a directory made here is removed at exit; one given by the operator (an emptyDir) is left in place.
_made_multiproc_dir = None


def _remove_orphaned_multiproc_dirs(parent):
    """Remove directories made by masters that died without on_exit (SIGKILL): /dev/shm is memory."""
    for path in glob.glob(os.path.join(parent, "ldn-prometheus-*-*")):
        pid = os.path.basename(path).split("-")[2]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):
            continue  # not ours, or a live process of another user


_configured = os.environ.get(_MULTIPROC_ENV)
# A fresh directory per master (named after its pid), so two gunicorns on one machine never wipe each other's
# files and a dead master's directory can be recognised. A configured directory that cannot be written (a
# read-only container without its tmpfs) falls back to /dev/shm, or stops here with one line saying what to mount.
_fallbacks = tuple(p for p in ("/dev/shm", temporary_directory()) if p and os.path.isdir(p))
for _parent in _fallbacks:
    _remove_orphaned_multiproc_dirs(_parent)
_directory = metrics_directory(_configured, _fallbacks)
if _directory != _configured:
    _made_multiproc_dir = _directory
os.environ[_MULTIPROC_ENV] = _directory


def on_starting(server):
    """Start every master with empty metrics: counts left by a previous run would be merged into ours."""
    path = os.environ[_MULTIPROC_ENV]
    os.makedirs(path, exist_ok=True)
    # Only prometheus_client's *.db files: the directory may be a shared /tmp set by mistake.
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    server.log.info("prometheus multiprocess directory %s", path)


def child_exit(server, worker):
    """Drop a dead worker's live gauges so they are not reported forever."""
    from prometheus_client import multiprocess  # noqa: PLC0415  (after the env variable is set)

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory if this master made it."""
    if _made_multiproc_dir:
        shutil.rmtree(_made_multiproc_dir, ignore_errors=True)


# --- gunicorn's own log as JSON lines, like the service's ------------------------------------------------------
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING", "handlers": ["json_stderr"]},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["json_stderr"],
            "propagate": False,
            "qualname": "gunicorn.error",
        },
        # Access lines come from the app (service.access), without bodies; gunicorn's stay off.
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False, "qualname": "gunicorn.access"},
    },
    "handlers": {
        "json_stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
    },
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
}
