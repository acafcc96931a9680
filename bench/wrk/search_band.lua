-- GET one search, always the same: args are the path and the query (URL-encoded), after "p95" to print
-- the 95th percentile of the latency too (a BENCH_P95 line, in microseconds).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local target, with_p95
local report = done

function init(args)
  local first = 1
  if args[1] == "p95" then
    with_p95, first = true, 2
  end
  target = args[first] .. "?q=" .. args[first + 1]
end

function request()
  return wrk.format("GET", target)
end

function done(summary, latency, requests)
  report(summary, latency, requests)
  if with_p95 then
    io.write(string.format("BENCH_P95 %d\n", latency:percentile(95)))
  end
end
