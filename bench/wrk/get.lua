-- GET a path with a random id: args are a format with one %d, the first and the last id.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local format, first, last

function init(args)
  format, first, last = args[1], tonumber(args[2]), tonumber(args[3])
  seed_random()
end

function request()
  return wrk.format("GET", string.format(format, math.random(first, last)))
end
