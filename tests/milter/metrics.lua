-- metrics: metrics_listen serves the daemon's counters (issue 18, daemon
-- metrics).  Scraped with curl: after a known mix of messages every verdict
-- counter is exact and the scan histogram counts every scored message; a
-- scraper running in a loop all the while is answered every time and never
-- sees a counter go down; reloads (ok, failed) are counted and survive;
-- bad requests get 400, 404 or 405; an idle client is dropped after the
-- timeout without holding up anyone else; no series names a user.
-- conf: spam_threshold = @MID@
-- conf: database = @TMP@/users.db
-- conf: metrics_listen = 127.0.0.1:0
-- conf: max_message_size = 1k
-- conf: oversize = skip
-- conf2: spam_threshold = @MID@
-- conf2: database = @TMP@/users.db
-- conf2: metrics_listen = 127.0.0.1:0
-- conf3: model = @TMP@/no-such-model.bin
-- conf4: metrics_listen = 127.0.0.1:1
-- log: metrics on http://127\.0\.0\.1:[0-9]+/metrics
-- log1: reload: metrics_listen changed; it takes effect at the next restart
-- graceful: the metrics thread stops with the milter
dofile(srcdir .. "/common.lua")

-- The milter's socket exists before the line is logged: wait for it.
local port
wait_until(function()
	port = milter_log():match("metrics on http://127%.0%.0%.1:(%d+)/metrics")
	return port ~= nil
end, "the \"metrics on\" line in the log")
local url = "http://127.0.0.1:" .. port

-- curl's status code and body for a request (args: extra curl options).
local function curl(path, args)
	local p = assert(io.popen("curl -s --max-time 10 -w '\\n%{http_code}' " .. (args or "") ..
	                          " '" .. url .. path .. "'"))
	local out = p:read("*a")
	p:close()
	local body, code = out:match("^(.*)\n(%d+)$")
	return tonumber(code), body or ""
end

-- The page, and one sample's value by its full name with labels.
local function scrape()
	local code, body = curl("/metrics")
	check(code == 200, "GET /metrics: got " .. tostring(code) .. ", want 200")
	return body
end
local function sample(page, series)
	local v = page:match("\n" .. series:gsub("%p", "%%%0") .. " ([%d.e+-]+)\n")
	check(v ~= nil, "no series " .. series .. " in:\n" .. page)
	return tonumber(v)
end

local page = scrape()
check(sample(page, 'spamshift_messages_total{verdict="ham"}') == 0, "ham before any mail")
check(sample(page, "spamshift_scan_seconds_count") == 0, "histogram before any mail")

-- A scraper in the background for the whole mix (bounded: 3000 scrapes), one
-- line per scrape: status, ham, tag, histogram count.
local loop = tmpdir .. "/scrape.sh"
local fh = assert(io.open(loop, "w"))
fh:write([[
i=0
while [ $i -lt 3000 ] && [ ! -e "$1/stop" ]; do
	i=$((i + 1))
	curl -s --max-time 10 -w 'code %{http_code}\n' "$2/metrics" | awk '
		/^spamshift_messages_total\{verdict="ham"\}/ { ham = $2 }
		/^spamshift_messages_total\{verdict="tag"\}/ { tag = $2 }
		/^spamshift_scan_seconds_count/ { n = $2 }
		/^code / { code = $2 }
		END { print code + 0, ham + 0, tag + 0, n + 0 }' >>"$1/scrapes"
done
touch "$1/done"
]])
fh:close()
sh("sh " .. loop .. " " .. tmpdir .. " " .. url .. " >/dev/null 2>&1 &")

-- An idle client: sends half a request and waits; the server must close it
-- after its 5 s timeout (the seconds it waited go to idle.t).
sh("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "; printf \"GET /metrics HTTP/1.1\\r\\n\" >&3; " ..
   "t0=$(date +%s); cat <&3 >/dev/null; echo $(( $(date +%s) - t0 )) >" .. tmpdir .. "/idle.t' &")

local function scrapes()
	local n, f = 0, io.open(tmpdir .. "/scrapes")
	if f == nil then return 0 end
	for _ in f:lines() do n = n + 1 end
	f:close()
	return n
end

-- The mix: NH ham and NS spam scored (ham, tag), one authenticated (skipped),
-- one over max_message_size with oversize = skip (unscanned), one the MTA refuses header changes for
-- (error).  Scrapes and messages interleave: see below.
-- Message i is spam when i % 8 < 3: 15 of the 40.
wait_until(function() return scrapes() > 0 end, "the first background scrape")
for i = 1, 40 do
	local conn, reply
	if i % 8 < 3 then
		conn, reply = spam_to({ "<bob@example.org>" }, { qid = "SPAM" .. i })
		check(reply == SMFIR_ACCEPT, "spam " .. i .. ": want ACCEPT")
		expect_header(conn, "X-Spam-Flag", "YES")
	else
		conn, reply = ham_to({ "<carol@example.org>" }, { qid = "HAM" .. i })
		check(reply == SMFIR_ACCEPT, "ham " .. i .. ": want ACCEPT")
		expect_header(conn, "X-Spam-Flag", nil)
	end
	mt.disconnect(conn)
	-- Two more answers: the second began after this message ended, so some
	-- scrape sees exactly i scored messages.
	local before = scrapes()
	wait_until(function() return scrapes() >= before + 2 end, "two scrapes after message " .. i)
end
local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "AUTH", auth = "alice" })
check(reply == SMFIR_ACCEPT, "authenticated: want ACCEPT")
mt.disconnect(conn)
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "OVERSIZE",
                                                 extra_body = string.rep("oversize ", 200) })
check(reply == SMFIR_ACCEPT, "oversize: want ACCEPT")
mt.disconnect(conn)
conn, reply = ham_to({ "<bob@example.org>" }, { qid = "FAILING",
	actions = SMFIF_ADDHDRS, headers = { { "X-Spam-Flag", "YES" } } })
check(reply == SMFIR_ACCEPT, "failing: want ACCEPT (on_error = accept)")
mt.disconnect(conn)

sh("touch " .. tmpdir .. "/stop")
wait_until(function() local f = io.open(tmpdir .. "/done") if f then f:close() end return f ~= nil end,
           "the background scraper to stop")

-- Every background scrape answered 200; no counter ever went down.
local n, last, mid = 0, { 0, 0, 0 }, 0
for line in io.lines(tmpdir .. "/scrapes") do
	local code, ham, tag, cnt = line:match("^(%d+) (%d+) (%d+) (%d+)$")
	check(code == "200", "background scrape " .. (n + 1) .. ": got \"" .. line .. "\", want 200")
	local v = { tonumber(ham), tonumber(tag), tonumber(cnt) }
	for k = 1, 3 do
		check(v[k] >= last[k], string.format("scrape %d: a counter went down (%s after %d)",
		                                      n + 1, line, last[k]))
	end
	if v[1] + v[2] > 0 and v[1] + v[2] < 40 then mid = mid + 1 end
	last, n = v, n + 1
end
check(n >= 41, "only " .. n .. " background scrapes")
check(mid >= 39, "only " .. mid .. " scrapes saw the mix under way, want >= 39")

-- The exact counts.
page = scrape()
local want = { ham = 25, tag = 15, quarantine = 0, reject = 0, skipped = 1, unscanned = 1, error = 1 }
for v, k in pairs(want) do
	local got = sample(page, 'spamshift_messages_total{verdict="' .. v .. '"}')
	check(got == k, string.format("messages %s: got %s, want %d", v, tostring(got), k))
end
check(sample(page, "spamshift_scan_seconds_count") == 40, "histogram count: want 40")
check(sample(page, 'spamshift_scan_seconds_bucket{le="+Inf"}') == 40, "+Inf bucket: want 40")
check(sample(page, "spamshift_scan_seconds_sum") > 0, "histogram sum: want > 0")
local prev = 0
for le in page:gmatch('spamshift_scan_seconds_bucket{le="([^"]+)"}') do
	local c = sample(page, 'spamshift_scan_seconds_bucket{le="' .. le .. '"}')
	check(c >= prev, "bucket le=" .. le .. " below the one before")
	prev = c
end
check(sample(page, "spamshift_store_enabled") == 1, "store_enabled: want 1")
check(sample(page, "spamshift_writer_queue_depth") >= 0, "writer queue depth")
check(sample(page, "spamshift_writer_dropped_total") == 0, "writer drops: want 0")
check(sample(page, "spamshift_messages_in_flight") == 0, "in flight: want 0")
local model = milter_log():match("listening on %S+; model (%x+)")
check(sample(page, 'spamshift_build_info{version="0.1.0",model="' .. model .. '"}') == 1,
      "build_info with model " .. model)
check(not page:find("example.org", 1, true) and not page:find("user=", 1, true),
      "a series names a user")
check(page:find("# TYPE spamshift_messages_total counter\n", 1, true) ~= nil, "TYPE line")
check(page:find("# TYPE spamshift_scan_seconds histogram\n", 1, true) ~= nil, "TYPE line")

-- Reloads: one that works, one that keeps the running model, one that
-- changes metrics_listen (works, warns); the counters survive them.
reload_with_wait(2)
local before = log_count("reload failed")
sh("cp " .. tmpdir .. "/spamshift.conf3 " .. conf .. " && kill -HUP " .. milter_pid)
wait_until(function() return log_count("reload failed") > before end, "the failed reload")
reload_with_wait(4)
page = scrape()
check(sample(page, 'spamshift_reloads_total{result="ok"}') == 2, "reloads ok: want 2")
check(sample(page, 'spamshift_reloads_total{result="failed"}') == 1, "reloads failed: want 1")
check(sample(page, 'spamshift_messages_total{verdict="ham"}') == 25, "ham after reloads: want 25")
check(sample(page, "spamshift_scan_seconds_count") == 40, "histogram after reloads: want 40")

-- Other requests.
local code, body = curl("/metrics", "-0")
check(code == 200 and body:find("spamshift_messages_total", 1, true), "HTTP/1.0: want 200")
code, body = curl("/metrics", "-I")
check(code == 200 and not body:find("spamshift_messages_total", 1, true), "HEAD: want 200, no body")
code = curl("/", "")
check(code == 404, "GET /: got " .. tostring(code) .. ", want 404")
code = curl("/metricsx", "")
check(code == 404, "GET /metricsx: got " .. tostring(code) .. ", want 404")
code = curl("/metrics", "-X POST -d x=1")
check(code == 405, "POST: got " .. tostring(code) .. ", want 405")
code = curl("/metrics", "-X DELETE")
check(code == 405, "DELETE: got " .. tostring(code) .. ", want 405")
code = curl("/metrics", "-H 'X-Big: " .. string.rep("a", 5000) .. "'")
check(code == 400, "a 5,000-byte header: got " .. tostring(code) .. ", want 400")
local p = assert(io.popen("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port ..
                          "; printf \"garbage\\r\\n\\r\\n\" >&3; head -1 <&3'"))
local line = p:read("*l") or ""
p:close()
check(line:match("^HTTP/1%.1 400 "), "garbage: got \"" .. line .. "\", want 400")

-- The idle client was dropped after the timeout (5 s), not before and not never.
wait_until(function() local f = io.open(tmpdir .. "/idle.t") if f then f:close() end return f ~= nil end,
           "the idle client to be dropped", 300)
local idle = tonumber(io.open(tmpdir .. "/idle.t"):read("*l"))
check(idle >= 4 and idle <= 7, "idle client dropped after " .. tostring(idle) .. " s, want about 5")
