#!/usr/bin/env bash
# Profile the real service under load (issue 17): gunicorn with the deployed config, wrk driving one body, py-spy
# sampling one worker. Writes bench/results/pyspy-<body>.{svg,txt}.
#   bash bench/pyspy_profile.sh [body] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
BODY=${1:-ldn_opioid_10}
SECONDS_=${2:-15}
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LDN_BIND=127.0.0.1:$PORT LDN_WORKERS=2 .venv/bin/gunicorn -c gunicorn.conf.py service.wsgi:app >/tmp/pyspy-gunicorn.log 2>&1 &
MASTER=$!
trap 'kill $MASTER 2>/dev/null; wait $MASTER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
WORKER=$(pgrep -P "$MASTER" | head -1)
BENCH_BODY=bench/bodies/$BODY.json wrk -t2 -c32 -d$((SECONDS_ + 4))s -s bench/post.lua "http://127.0.0.1:$PORT/v1/check" >/tmp/pyspy-wrk.txt 2>&1 &
WRK=$!
sleep 2
.venv/bin/py-spy record --pid "$WORKER" --duration "$SECONDS_" --rate 200 --format raw -o "/tmp/pyspy-$BODY.raw" >/dev/null 2>&1
.venv/bin/py-spy record --pid "$WORKER" --duration 5 --rate 200 -o "bench/results/pyspy-$BODY.svg" >/dev/null 2>&1 || true
wait $WRK || true
.venv/bin/python bench/pyspy_top.py "/tmp/pyspy-$BODY.raw" > "bench/results/pyspy-$BODY.txt"
{ echo; echo "command: bash bench/pyspy_profile.sh $BODY $SECONDS_ (py-spy record --rate 200 on one of 2 sync workers while wrk -t2 -c32 drives POST /v1/check)"; grep -E "Requests/sec|Latency" /tmp/pyspy-wrk.txt; } >> "bench/results/pyspy-$BODY.txt"
head -40 "bench/results/pyspy-$BODY.txt"
