-- wrk script: POST the body in $BENCH_BODY as JSON, or, for a .ndjson file, each of its lines in turn (many
-- different patients); optional $BENCH_LIMIT stops each thread after that many responses (the soak); prints one
-- JSON line of results at the end (prefixed BENCH_JSON).
local path = os.getenv("BENCH_BODY")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if path:match("%.ndjson$") then
   local bodies = {}
   for line in io.lines(path) do
      if #line > 0 then
         bodies[#bodies + 1] = line
      end
   end
   local next_body = 0
   function request()
      next_body = next_body % #bodies + 1
      return wrk.format(nil, nil, nil, bodies[next_body])
   end
else
   local f = assert(io.open(path, "rb"))
   wrk.body = f:read("*a")
   f:close()
end

local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local counted = 0
local bad = 0

if limit > 0 then
   function response(status, headers, body)
      counted = counted + 1
      if counted >= limit then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "lat_mean_us": %.1f, "lat_p50_us": %d, "lat_p90_us": %d, '
      .. '"lat_p99_us": %d, "lat_p999_us": %d, "lat_max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max))
end
