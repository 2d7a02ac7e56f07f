-- wrk script for bench/logging.sh: client_credentials requests with client_secret_basic,
-- cycling through the provisioned clients (the same secrets again and again: the hot path).
-- Env: TOKEN_AUTH_FILE  one "Basic <base64(id:secret)>" value per line; TOKEN_BODY  the form body.

local auths, i = {}, 0
local body = os.getenv("TOKEN_BODY")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
  for line in io.lines(os.getenv("TOKEN_AUTH_FILE")) do
    if line ~= "" then auths[#auths + 1] = line end
  end
  i = math.random(#auths)
end

function request()
  i = i % #auths + 1
  headers["Authorization"] = auths[i]
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("tokens_per_s=%.1f p50_ms=%.2f p99_ms=%.2f non_2xx=%d tokens=%d\n",
    (summary.requests - codes) / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, codes, summary.requests - codes))
end
