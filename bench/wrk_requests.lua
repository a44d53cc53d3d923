-- wrk script: cycle through the requests listed in a file, one per line, then print one JSON
-- line with the counts and the latency percentiles wrk measured (microseconds -> ms).
--   "path"                                  a GET;
--   "path<TAB>form body<TAB>signature"      a form POST signed as Twilio does (X-Twilio-Signature).
local requests, counter = {}, 0

init = function(args)
  for line in io.lines(args[1]) do
    local path, body, signature = line:match("^([^\t]+)\t([^\t]*)\t([^\t]+)$")
    if path then
      requests[#requests + 1] = wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded",
                                                          ["X-Twilio-Signature"] = signature}, body)
    elseif #line > 0 then
      requests[#requests + 1] = wrk.format("GET", line)
    end
  end
end

request = function()
  counter = counter % #requests + 1
  return requests[counter]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "socket_errors": %d, "non_2xx": %d, ' ..
    '"p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
