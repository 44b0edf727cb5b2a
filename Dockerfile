# LDN safety-check service: Flask + gunicorn + durable-rules.
#
# Plain `docker build -t ldn-safety .` from the repository root. Compatible
# with the legacy builder (no BuildKit features). On a machine that cannot
# reach Docker's registry, build the base image locally first with
# scripts/build-local-base-image.sh.
#
# Run read-only:
#   docker run --read-only --tmpfs /tmp -p 8080:8080 ldn-safety

# ---------------------------------------------------------------------------
# build stage: compile every requirement into a wheel. durable-rules is only
# published as an sdist with a C extension, so it needs a compiler here.
# ---------------------------------------------------------------------------
FROM python:3.12-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY requirements.txt ./
# --use-pep517: build sdists in an isolated env with current setuptools/wheel.
# Without it, an older pip (23.0 in the Debian-based stand-in) takes the legacy
# `setup.py bdist_wheel` path and fails when `wheel` isn't installed.
RUN pip wheel --use-pep517 --wheel-dir /wheels -r requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels -r requirements.txt

# ---------------------------------------------------------------------------
# runtime stage: no compiler, no wheels: the virtualenv built above.
# ---------------------------------------------------------------------------
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Only the installed virtualenv comes over: copying the wheels in and deleting them would leave them in a layer.
# Both stages use the same base image, so the venv's interpreter links are valid here.
COPY --from=build /opt/venv /opt/venv

RUN groupadd --system --gid 10001 ldn \
 && useradd --system --uid 10001 --gid ldn --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin ldn

# Only what the service needs at run time; files stay root-owned so the
# service user cannot modify its own code or rules.
WORKDIR /app
COPY service/ ./service/
COPY rules/ ./rules/
COPY schemas/ ./schemas/
COPY openapi.yaml gunicorn.conf.py ./
# Byte-compile now: the root filesystem is meant to be read-only at run time.
RUN python -m compileall -q /app

# gunicorn.conf.py reads LDN_BIND, LDN_WORKERS, LDN_LOG_LEVEL, LDN_TIMEOUT;
# the app reads LDN_MAX_CONTENT_LENGTH.
ENV LDN_BIND=0.0.0.0:8080
# gunicorn workers share Prometheus metrics through files here (created and wiped by gunicorn.conf.py at
# start); /tmp is the writable tmpfs/emptyDir of a read-only container. Kubernetes overrides it.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

USER 10001
EXPOSE 8080

# No curl in the image: probe /healthz with the standard library, on the
# port taken from LDN_BIND. (No --start-interval: the legacy builder rejects it,
# so the first probe runs one --interval after start.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('LDN_BIND', '0.0.0.0:8080').rsplit(':', 1)[-1]; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % port, timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["gunicorn", "service.wsgi:app"]
