-- wrk script for bench/run.sh: a flood of wrong secrets from other addresses than the load it
-- runs beside. Each request carries X-Forwarded-For with one of 16 documentation addresses
-- (TEST-NET-3), which the server believes because the bench trusts 127.0.0.1 as a proxy, so
-- the failed-authentication throttle sees an attacker apart from the legitimate clients.
-- Env: FLOOD_AUTH_FILE  one "Basic <base64(id:secret)>" value per line; FLOOD_BODY  the form body.

local auths, i = {}, 0
local body = os.getenv("FLOOD_BODY")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
  for line in io.lines(os.getenv("FLOOD_AUTH_FILE")) do
    if line ~= "" then auths[#auths + 1] = line end
  end
  i = math.random(#auths)
end

function request()
  i = i % #auths + 1
  headers["Authorization"] = auths[i]
  headers["X-Forwarded-For"] = "203.0.113." .. (i % 16 + 1)
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("flood_requests_per_s=%.1f non_2xx=%d p99_ms=%.2f\n",
    summary.requests / (summary.duration / 1e6), codes, latency:percentile(99) / 1000))
end
