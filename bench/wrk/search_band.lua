-- GET one request, always the same: args are the path and a query (URL-encoded; "-": none). done()
-- prints the 95th percentile of the latency too, as a BENCH_P95 line (microseconds).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local target
local report = done

function init(args)
  target = args[1]
  if args[2] ~= "-" then
    target = target .. "?q=" .. args[2]
  end
end

function request()
  return wrk.format("GET", target)
end

function done(summary, latency, requests)
  report(summary, latency, requests)
  io.write(string.format("BENCH_P95 %d\n", latency:percentile(95)))
end
