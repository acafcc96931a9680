-- POST /users/{id}/posts for a random author: args are the first and the last id.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local first, last
local headers
local body = '{"title": "A benchmark post", "body": "Written by wrk, to measure how fast posts are created."}'

function init(args)
  headers = json_headers()
  first, last = tonumber(args[1]), tonumber(args[2])
  seed_random()
end

function request()
  return wrk.format("POST", string.format("/users/%d/posts", math.random(first, last)), headers, body)
end
