-- A mix of reads and writes for the memory soak: args are the number of users and of hot authors.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local users, authors
local sent = 0
local headers

function init(args)
  headers = json_headers()
  users, authors = tonumber(args[1]), tonumber(args[2])
  seed_random()
end

function request()
  sent = sent + 1
  local pick = math.random(1, 10)
  if pick <= 6 then
    return wrk.format("GET", string.format("/users/%d", math.random(1, users)))
  elseif pick == 7 then
    return wrk.format("GET", string.format("/users?after=%d", math.random(1, users)))
  elseif pick == 8 then
    return wrk.format("GET", string.format("/users/%d/posts", math.random(1, authors)))
  elseif pick == 9 then
    local body = string.format('{"bio": "Soak %d from thread %d."}', sent, thread_number)
    return wrk.format("PATCH", string.format("/users/%d", math.random(1, users)), headers, body)
  end
  local body = '{"title": "Soak", "body": "Written during the memory soak."}'
  return wrk.format("POST", string.format("/users/%d/posts", math.random(1, users)), headers, body)
end
