"""Production gunicorn settings; every value can be overridden from the environment (LDN_*)."""

import multiprocessing
import os

bind = os.environ.get("LDN_BIND", "127.0.0.1:8080")
# The rules engine holds the GIL, so one sync worker per core is the natural shape.
workers = int(os.environ.get("LDN_WORKERS", multiprocessing.cpu_count()))
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
errorlog = "-"
proc_name = "ldn-safety"
# gunicorn 27's control socket would need a writable home directory; the service does not use it.
control_socket_disable = True
