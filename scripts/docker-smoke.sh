#!/usr/bin/env bash
# Smoke test of the service's Docker image.
#
# Builds the image from the repository root (plain `docker build`, no --pull),
# runs it with a read-only root filesystem, waits for the HEALTHCHECK to report
# healthy, then checks /healthz, /readyz, POST /v1/check and that the service
# does not run as root. The container is always removed; the image is kept.
#
# Usage: bash scripts/docker-smoke.sh
# Environment:
#   IMAGE=ldn-safety:smoke     tag to build and run
#   HEALTH_TIMEOUT=60          seconds to wait for the container to be healthy
#   BUILD_VERBOSE=1            stream `docker build` output (default: only on failure)
set -euo pipefail

IMAGE=${IMAGE:-ldn-safety:smoke}
BASE_IMAGE=python:3.12-slim-bookworm
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PASSED=0
FAILED=0
CID=""
WORK=$(mktemp -d /tmp/docker-smoke.XXXXXX)

pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$*"; }
info() { printf '....  %s\n' "$*"; }

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    if [ -n "$CID" ]; then
        if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
            echo "---- container logs (last 50 lines) ----"
            docker logs --tail 50 "$CID" 2>&1 || true
            echo "----------------------------------------"
        fi
        docker rm -f "$CID" >/dev/null 2>&1 || true
        info "removed container ${CID:0:12}"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary_and_exit() {
    echo "$PASSED passed, $FAILED failed"
    if [ "$FAILED" -eq 0 ]; then exit 0; fi
    exit 1
}

# --- Docker daemon: start it only if `docker info` fails ----------------------
if ! command -v docker >/dev/null 2>&1; then
    fail "docker CLI not found (Debian: apt-get update && apt-get install -y docker.io)"
    summary_and_exit
fi
# shellcheck source=scripts/lib-dockerd.sh
. "$ROOT/scripts/lib-dockerd.sh"
if ! start_dockerd_if_needed; then
    fail "docker daemon not reachable (see /tmp/dockerd.log)"
    summary_and_exit
fi
pass "docker daemon is running"

# --- base image ----------------------------------------------------------------
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    fail "base image $BASE_IMAGE is not available locally"
    cat <<EOF
      Pull it (docker pull $BASE_IMAGE) where Docker's registry is reachable.
      Where it is not, build a local stand-in (Debian bookworm, Python 3.11)
      as root with:
          bash scripts/build-local-base-image.sh
      then run this script again.
EOF
    summary_and_exit
fi
pass "base image $BASE_IMAGE present ($(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$BASE_IMAGE" | sed -n 's/^PYTHON_VERSION=//p' | head -1))"

# --- build -------------------------------------------------------------------
cd "$ROOT"
start=$(date +%s)
if [ "${BUILD_VERBOSE:-0}" = 1 ]; then
    build_ok=0; docker build -t "$IMAGE" . && build_ok=1
else
    build_ok=0; docker build -t "$IMAGE" . >"$WORK/build.log" 2>&1 && build_ok=1
fi
elapsed=$(( $(date +%s) - start ))
if [ "$build_ok" = 1 ]; then
    size=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1000000}')
    pass "docker build -t $IMAGE . (${elapsed}s, image $size)"
else
    fail "docker build -t $IMAGE . (${elapsed}s)"
    [ -f "$WORK/build.log" ] && { echo "---- build log (last 60 lines) ----"; tail -n 60 "$WORK/build.log"; }
    summary_and_exit
fi

# --- run read-only -------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
if CID=$(docker run -d --read-only --tmpfs /tmp -p "127.0.0.1:$PORT:8080" "$IMAGE"); then
    pass "container started read-only (${CID:0:12}, 127.0.0.1:$PORT -> 8080)"
else
    CID=""
    fail "docker run --read-only --tmpfs /tmp -p 127.0.0.1:$PORT:8080 $IMAGE"
    summary_and_exit
fi

# --- wait for HEALTHCHECK -------------------------------------------------------
deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
status=unknown
start=$(date +%s)
while :; do
    running=$(docker inspect -f '{{.State.Running}}' "$CID" 2>/dev/null || echo false)
    status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$CID" 2>/dev/null || echo unknown)
    if [ "$running" != true ]; then
        status="exited (code $(docker inspect -f '{{.State.ExitCode}}' "$CID" 2>/dev/null || echo '?'))"
        break
    fi
    case $status in healthy|unhealthy|none) break ;; esac
    if [ "$(date +%s)" -ge "$deadline" ]; then break; fi
    sleep 1
done
if [ "$status" = healthy ]; then
    pass "health status healthy after $(( $(date +%s) - start ))s"
else
    fail "health status '$status' after $(( $(date +%s) - start ))s (limit ${HEALTH_TIMEOUT}s)"
    docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.ExitCode}}: {{.Output}}{{end}}{{end}}' "$CID" 2>/dev/null | tail -n 5 || true
    summary_and_exit
fi

BASE_URL="http://127.0.0.1:$PORT"

# http METHOD PATH [BODY] -> writes body to $WORK/body, prints the status code
http() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS --max-time 10 -o "$WORK/body" -w '%{http_code}' -X "$method")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    local code
    code=$(curl "${args[@]}" "$BASE_URL$path" 2>"$WORK/curl.err") || true
    echo "${code:-000}"
}
show_body() { head -c 600 "$WORK/body" 2>/dev/null; echo; }

# --- GET /healthz, GET /readyz -----------------------------------------------
for path in /healthz /readyz; do
    code=$(http GET "$path")
    if [ "$code" = 200 ]; then
        pass "GET $path -> 200 $(head -c 200 "$WORK/body")"
    else
        fail "GET $path -> $code $(cat "$WORK/curl.err" 2>/dev/null)"
        show_body
    fi
done

# --- POST /v1/check ------------------------------------------------------------
REQ='{"medications":[{"id":"a","name":"naltrexone 4.5 mg capsule","compounded":true,"status":"active"},{"id":"b","name":"oxyCODONE-acetaminophen (PERCOCET) 5-325 MG per tablet"}]}'
code=$(http POST /v1/check "$REQ")
if [ "$code" = 200 ]; then
    pass "POST /v1/check -> 200"
else
    fail "POST /v1/check -> $code $(cat "$WORK/curl.err" 2>/dev/null)"
    show_body
fi
if verdict=$(python3 - "$WORK/body" <<'PY'
import json, sys

try:
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
except (OSError, ValueError) as exc:
    print("response is not JSON: %s" % exc)
    sys.exit(1)


def alerts(node):
    """Every object carrying a "code" key, anywhere in the answer."""
    if isinstance(node, dict):
        if "code" in node:
            yield node
        for value in node.values():
            yield from alerts(value)
    elif isinstance(node, list):
        for value in node:
            yield from alerts(value)


codes = [a.get("code") for a in alerts(doc)]
if "opioid-use" in codes:
    print("alert codes %s" % codes)
    sys.exit(0)
print("no alert with code 'opioid-use'; codes found: %s" % codes)
sys.exit(1)
PY
); then
    pass "POST /v1/check has an opioid-use alert ($verdict)"
else
    fail "POST /v1/check has an opioid-use alert ($verdict)"
    show_body
fi

# --- GET /metrics: merged across workers, from the tmpfs multiprocess dir ------------
code=$(http GET /metrics)
if [ "$code" = 200 ] && grep -q '^ldn_http_requests_total{endpoint="/v1/check",method="POST",status="200"} 1.0$' "$WORK/body" \
        && grep -q '^ldn_build_info{' "$WORK/body"; then
    pass "GET /metrics -> 200 ($(grep -c '^ldn_' "$WORK/body") ldn_ samples; $(grep '^ldn_build_info' "$WORK/body"))"
else
    fail "GET /metrics -> $code (want the check counted once and ldn_build_info)"
    grep '^ldn_' "$WORK/body" 2>/dev/null | head -n 20
fi

# --- logs: every line is JSON, none carries the medication names ---------------------
if docker logs "$CID" 2>&1 | python3 -c '
import json, sys
lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
bad = [line for line in lines if not line.startswith("{") or json.loads(line) is None]
names = [line for line in lines if "oxycodone" in line.lower() or "naltrexone 4.5" in line.lower()]
sys.exit(1 if bad or names or not lines else 0)'; then
    pass "container log: $(docker logs "$CID" 2>&1 | grep -c .) JSON lines, no medication names"
else
    fail "container log has non-JSON lines or medication names"
    docker logs --tail 20 "$CID" 2>&1
fi

# --- not root --------------------------------------------------------------------
if uid=$(docker exec "$CID" id -u 2>&1) && [ "$uid" != 0 ]; then
    pass "service runs as non-root (uid $uid)"
else
    fail "service runs as non-root (docker exec id -u: $uid)"
fi

summary_and_exit
