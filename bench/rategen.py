"""A fixed-rate (open-loop) HTTP load generator: Debian has wrk but not wrk2, and wrk cannot hold a rate.

Request i is due at t0 + i/rate whatever happened before (no coordinated omission): its latency is measured from
the time it was due, so a stalled server shows up as latency, not as a lower rate. One new connection per request
with `Connection: close` (gunicorn's sync worker closes every connection anyway). Prints one JSON line.

    python bench/rategen.py --port 8080 --body bench/bodies/ldn_opioid_10.json --rate 500 --seconds 20
"""

import argparse
import asyncio
import json
import statistics
import time


def percentile(values, pct):
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


async def one(host, port, payload, due, timeout, out):
    now = time.perf_counter()
    if now < due:
        await asyncio.sleep(due - now)
    sent = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(payload)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), timeout)
        writer.close()
        end = time.perf_counter()
        status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
        if 200 <= status < 300:
            out["ok"].append((end - due, end - sent))
        else:
            out["status"] += 1
    except (TimeoutError, OSError):
        out["socket"] += 1


async def run(host, port, body, rate, seconds, timeout, max_inflight):
    payload = (
        f"POST /v1/check HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    out = {"ok": [], "status": 0, "socket": 0, "skipped": 0}
    total = int(rate * seconds)
    loop_start = time.perf_counter() + 0.05
    tasks = set()
    for i in range(total):
        due = loop_start + i / rate
        while len(tasks) >= max_inflight:  # bounded: a dead server must not exhaust file descriptors
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks -= done
        delay = due - time.perf_counter()
        if delay > 0.002:
            await asyncio.sleep(delay - 0.001)
        task = asyncio.ensure_future(one(host, port, payload, due, timeout, out))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 1)
    elapsed = time.perf_counter() - loop_start
    from_due = [a for a, _ in out["ok"]]
    from_sent = [b for _, b in out["ok"]]
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {
        "target_rate": rate,
        "seconds": seconds,
        "sent": total,
        "ok": len(out["ok"]),
        "achieved_rate": round(len(out["ok"]) / elapsed, 1),
        "errors_status": out["status"],
        "errors_socket": out["socket"],
        "p50_ms": ms(percentile(from_due, 50)),
        "p90_ms": ms(percentile(from_due, 90)),
        "p99_ms": ms(percentile(from_due, 99)),
        "p999_ms": ms(percentile(from_due, 99.9)),
        "max_ms": ms(max(from_due) if from_due else None),
        "mean_ms": ms(statistics.fmean(from_due) if from_due else None),
        "p99_from_send_ms": ms(percentile(from_sent, 99)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-inflight", type=int, default=256)
    args = parser.parse_args()
    if args.host != "127.0.0.1":
        raise SystemExit("only 127.0.0.1 targets")
    with open(args.body, "rb") as handle:
        body = handle.read()
    result = asyncio.run(run(args.host, args.port, body, args.rate, args.seconds, args.timeout, args.max_inflight))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
