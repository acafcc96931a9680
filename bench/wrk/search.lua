-- GET a search for a random topic (a word in 0.1% of the seeded posts): args are the path before the
-- query, and "one" (the topic alone) or "two" (the topic and its group, a word in 10% of the posts).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local path, words

function init(args)
  path, words = args[1], args[2]
  seed_random()
end

function request()
  local topic = math.random(0, 999)
  local q = "topic" .. topic
  if words == "two" then
    q = q .. "+group" .. (topic % 10)
  end
  return wrk.format("GET", path .. "?q=" .. q)
end
