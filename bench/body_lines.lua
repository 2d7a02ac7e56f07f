-- wrk: POST one form body per request, taken in turn from a file of lines.
-- Env: BODY_FILE   the file, shared by every wrk thread (bodies may repeat), or
--      BODY_PREFIX thread N reads BODY_PREFIX.N (for bodies that must each be sent once).
-- done() prints one line: tokens_per_s= p50_ms= p99_ms= non_2xx= tokens=

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local bodies, i = {}, 0
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
  local file = os.getenv("BODY_FILE") or (os.getenv("BODY_PREFIX") .. "." .. id)
  for line in io.lines(file) do
    if line ~= "" then bodies[#bodies + 1] = line end
  end
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, headers, bodies[i])
end

function done(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("tokens_per_s=%.1f p50_ms=%.2f p99_ms=%.2f non_2xx=%d tokens=%d\n",
    (summary.requests - codes) / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, codes, summary.requests - codes))
end
