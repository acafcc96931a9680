-- POST /users with an email no other request of this run uses: args are the run's tag and, with sign-in
-- on, the password every new user gets.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tag
local password
local sent = 0
local headers

function init(args)
  headers = json_headers()
  tag = args[1]
  password = args[2] and string.format(', "password": "%s"', args[2]) or ""
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"email": "bench-%s-%d-%d@example.com", "name": "Bench User", "bio": "Written by wrk."%s}',
    tag, thread_number, sent, password)
  return wrk.format("POST", "/users", headers, body)
end
