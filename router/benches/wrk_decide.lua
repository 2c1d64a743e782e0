-- wrk script for the router's service benchmark (router/BENCHMARKS.md):
-- POST /v1/decide with a typical decision request; request ids cycle so the weighted
-- choice sees many keys, and every fourth request carries a session key (sticky path).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local session = ""
  if n % 4 == 0 then session = string.format(',"session_key":"s-%d"', n % 512) end
  local body = string.format(
    '{"version":"1","tenant_id":"acme","request_id":"r-%d","trace_id":"t-%d","task":{"type":"chat"}%s}',
    n % 4096, n, session)
  return wrk.format(nil, "/v1/decide", nil, body)
end
