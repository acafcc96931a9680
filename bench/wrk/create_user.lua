-- POST /users with an email no other request of this run uses: args are the run's tag.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tag
local sent = 0
local headers

function init(args)
  headers = json_headers()
  tag = args[1]
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"email": "bench-%s-%d-%d@example.com", "name": "Bench User", "bio": "Written by wrk."}',
    tag, thread_number, sent)
  return wrk.format("POST", "/users", headers, body)
end
