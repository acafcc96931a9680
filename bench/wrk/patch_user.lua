-- PATCH /users/{id} with a new bio for a random user: args are the first and the last id.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local first, last
local sent = 0
local headers

function init(args)
  headers = json_headers()
  first, last = tonumber(args[1]), tonumber(args[2])
  seed_random()
end

function request()
  sent = sent + 1
  local body = string.format('{"bio": "Patched %d times by thread %d."}', sent, thread_number)
  return wrk.format("PATCH", string.format("/users/%d", math.random(first, last)), headers, body)
end
