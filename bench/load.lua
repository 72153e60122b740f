-- The wrk script of bench/harness.py, for every HTTP figure, so that all are driven alike.
-- Read from the environment (the harness sets them):
--   BENCH_METHOD, BENCH_PATH   the request (GET or POST)
--   BENCH_BODY, BENCH_COOKIE   POST: the form fields but the email, and the session cookie
--   BENCH_ORIGIN               POST: sent as Origin, with Sec-Fetch-Site: same-origin
--   BENCH_TAG                  unique to the run: every POST's email is bench-<tag>-<n>@…
--   BENCH_SECONDS              window: after it no request is sent (wrk runs a little longer
--                              so that those in flight are answered and counted)
--   BENCH_TOTAL                else: send exactly that many requests, then create the file
--                              BENCH_DONE when the last is answered (the harness stops wrk)
--   BENCH_DUP                  every n-th POST reuses an earlier address (0: never)
-- Never pause between requests: the sync gunicorn workers close each connection, and a
-- fresh connection waiting to send holds a worker (so a paced load is batches of wrk runs).
-- done() prints "BENCH …" lines: responses by status, socket errors, the window from the
-- first request to the last response, p50 and p99 latency (µs), the distinct addresses.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_ts;
int clock_gettime(int clk_id, bench_ts *tp);
]])
local ts = ffi.new("bench_ts")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local env = os.getenv
local method, path = env("BENCH_METHOD") or "GET", env("BENCH_PATH") or "/"
local body, tag = env("BENCH_BODY") or "", env("BENCH_TAG") or "run"
local window = tonumber(env("BENCH_SECONDS") or "10")
local total = tonumber(env("BENCH_TOTAL") or "0")
local dup = tonumber(env("BENCH_DUP") or "0")
local done_file = env("BENCH_DONE") or ""
local headers = { ["Sec-Fetch-Site"] = "same-origin", ["Origin"] = env("BENCH_ORIGIN") }
headers["Content-Type"] = "application/x-www-form-urlencoded"
if (env("BENCH_COOKIE") or "") ~= "" then
  headers["Cookie"] = env("BENCH_COOKIE")
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Per thread (the harness runs one): read back by done() through thread:get().
statuses, started, last, distinct = {}, nil, 0, 0
local deadline, claimed, answered, sent = nil, 0, 0, 0

function init(args)
  started = now()
  deadline = started + window
end

function delay() -- called before every request, each connection's first included
  if (total > 0 and claimed >= total) or (total == 0 and now() >= deadline) then
    return 1000000000 -- done: this connection waits for wrk to stop
  end
  claimed = claimed + 1
  return 0
end

local verified = false
function request()
  if method ~= "POST" or not verified then -- wrk calls it once first, to check it: not sent
    verified = true
    return wrk.format(method, path)
  end
  sent = sent + 1
  local n
  if dup > 0 and sent % dup == 0 and distinct > 0 then
    n = math.random(1, distinct)
  else
    distinct = distinct + 1
    n = distinct
  end
  local email = string.format("bench-%s-%d%%40example.org", tag, n)
  return wrk.format("POST", path, headers, body .. "&email=" .. email)
end

function response(status, hdrs, resp_body)
  statuses[status] = (statuses[status] or 0) + 1
  last = now()
  answered = answered + 1
  if total > 0 and answered == total and done_file ~= "" then
    io.open(done_file, "w"):close()
  end
end

function done(summary, latency, requests)
  local out, first, final, n = {}, nil, 0, 0
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses") or {}) do
      table.insert(out, string.format("BENCH status %d %d", status, count))
    end
    local t0, t1 = t:get("started"), t:get("last")
    if t0 and (first == nil or t0 < first) then first = t0 end
    if t1 and t1 > final then final = t1 end
    n = n + (t:get("distinct") or 0)
  end
  local e = summary.errors
  table.insert(out, string.format("BENCH errors %d", e.connect + e.read + e.write + e.timeout))
  table.insert(out, string.format("BENCH window %.6f", (first and final > first) and final - first or 0))
  table.insert(out, string.format("BENCH p50 %d", latency:percentile(50)))
  table.insert(out, string.format("BENCH p99 %d", latency:percentile(99)))
  table.insert(out, string.format("BENCH distinct %d", n))
  io.write(table.concat(out, "\n") .. "\n")
end
