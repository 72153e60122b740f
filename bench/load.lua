-- wrk script used by bench/run.py for all four targets, so that they are driven alike.
--
-- Read from the environment (run.py sets them):
--   BENCH_METHOD   GET or POST
--   BENCH_PATH     the path to request
--   BENCH_SECONDS  measure window: after it, no new request is sent (see delay() below)
--   BENCH_RUN      a tag unique to this wrk run, put into each generated email
--   BENCH_COOKIE   Cookie header to send (POST only; the session holding the CSRF token)
--   BENCH_CSRF     the CSRF token obtained by one GET of the petition page (POST only)
--
-- Each POST carries a new email address (run tag, thread, counter), so every signing is
-- a new signature, never a duplicate. Requests already sent when the window ends are
-- allowed to finish (wrk itself is run a little longer than the window), so that every
-- row the server commits is a response counted here: run.py checks that equality.
--
-- done() prints lines starting with "BENCH " for run.py: counts by status, socket
-- errors, the time from the first request to the last response, and the latency
-- latency distribution as 200 quantiles (microseconds), so that rounds can be merged.
-- (wrk's latency(i) accessor scans the whole histogram per call: too slow to dump it.)

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local seconds = tonumber(os.getenv("BENCH_SECONDS") or "10")
local run_tag = os.getenv("BENCH_RUN") or "run"
local cookie = os.getenv("BENCH_COOKIE") or ""
local csrf = os.getenv("BENCH_CSRF") or ""

local threads = {}
local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("tid", thread_counter)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state). The globals are read back
-- by done() through thread:get().
local counter = 0
local deadline = nil
started = nil
last_response = 0
statuses = {}

local function form_escape(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local fixed_fields = nil

function init(args)
  started = now()
  deadline = started + seconds
  if method == "POST" then
    fixed_fields = table.concat({
      "csrf_token=" .. form_escape(csrf),
      "first_name=Jeanne",
      "last_name=Martin",
      "country=FR",
      "postcode=75011",
      "consent=y",
    }, "&")
  end
end

function delay()
  if now() < deadline then
    return 0
  end
  -- The window is over: park this connection until wrk stops.
  return 1000000000
end

function request()
  if method ~= "POST" then
    return wrk.format("GET", path)
  end
  counter = counter + 1
  local email = string.format("bench-%s-%d-%d@example.org", run_tag, tid, counter)
  local body = fixed_fields .. "&email=" .. form_escape(email)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookie,
  }
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  last_response = now()
end

function done(summary, latency, requests)
  local by_status = {}
  local first, last = nil, 0
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, n in pairs(counts) do
      by_status[status] = (by_status[status] or 0) + n
    end
    local t0 = thread:get("started")
    local t1 = thread:get("last_response")
    if t0 and (first == nil or t0 < first) then
      first = t0
    end
    if t1 and t1 > last then
      last = t1
    end
  end
  local out = {}
  table.insert(out, string.format("BENCH responses %d", summary.requests))
  for status, n in pairs(by_status) do
    table.insert(out, string.format("BENCH status %d %d", status, n))
  end
  local e = summary.errors
  table.insert(
    out,
    string.format(
      "BENCH socket_errors %d %d %d %d",
      e.connect,
      e.read,
      e.write,
      e.timeout
    )
  )
  table.insert(out, string.format("BENCH window %.6f", (first and last > first) and (last - first) or 0))
  -- Midpoints of 200 equal slices of the distribution: 0.25%, 0.75%, ... 99.75%.
  for i = 0, 199 do
    table.insert(out, string.format("BENCH quantile %d", latency:percentile((i + 0.5) / 2)))
  end
  table.insert(out, string.format("BENCH latency_max %d", latency.max))
  io.write(table.concat(out, "\n") .. "\n")
end
