-- POST /users with an email no other request of this run uses: args are the run's tag, with sign-in on
-- the password every new user gets, and "spread" to send each request from an address of its own (in
-- X-Forwarded-For, which the server trusts from loopback as from a proxy in front of it).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local tag
local password
local spread
local sent = 0
local headers

function init(args)
  headers = json_headers()
  tag = args[1]
  password = args[2] and args[2] ~= "" and string.format(', "password": "%s"', args[2]) or ""
  spread = args[3] == "spread"
end

function request()
  sent = sent + 1
  if spread then
    headers["X-Forwarded-For"] = string.format(
      "10.%d.%d.%d", thread_number % 256, math.floor(sent / 256) % 256, sent % 256)
  end
  local body = string.format(
    '{"email": "bench-%s-%d-%d@example.com", "name": "Bench User", "bio": "Written by wrk."%s}',
    tag, thread_number, sent, password)
  return wrk.format("POST", "/users", headers, body)
end
