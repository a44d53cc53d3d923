-- wrk script: cycle through the POST requests listed in a file, one per line as
-- "path<TAB>form body<TAB>X-Twilio-Signature", then print the same JSON line as wrk_report.lua.
local posts, counter = {}, 0

init = function(args)
  for line in io.lines(args[1]) do
    local path, body, signature = line:match("^([^\t]+)\t([^\t]*)\t([^\t]+)$")
    if path then posts[#posts + 1] = {path, body, signature} end
  end
end

request = function()
  counter = counter % #posts + 1
  local post = posts[counter]
  return wrk.format("POST", post[1], {["Content-Type"] = "application/x-www-form-urlencoded",
                                       ["X-Twilio-Signature"] = post[3]}, post[2])
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
