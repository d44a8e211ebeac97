-- common.lua - helpers shared by the miltertest scripts in tests/milter/.
--
-- run.sh defines these globals with miltertest -D: socket (the milter's
-- socket), datadir (tests/milter/data), tmpdir (scratch), milter_pid,
-- score_ham and score_spam (what `spamshift classify` prints for the probes).

-- miltertest does not print a script's error message: say it first.
function check(cond, what)
	if not cond then
		local where = debug.getinfo(2, "Sl")
		mt.echo(string.format("FAIL %s:%d: %s", where.short_src, where.currentline, what))
		error(what, 2)
	end
end

-- Read an RFC 822 file: a list of {name, value} headers (continuation lines
-- folded in as the MTA passes them) and the body with CRLF line ends.
function read_message(path)
	local fh = assert(io.open(path, "rb"))
	local text = fh:read("*a")
	fh:close()
	text = text:gsub("\r\n", "\n")
	local head, body = text:match("^(.-)\n\n(.*)$")
	if head == nil then
		head, body = text, ""
	end
	local headers = {}
	for line in (head .. "\n"):gmatch("(.-)\n") do
		if line:match("^[ \t]") and #headers > 0 then
			headers[#headers][2] = headers[#headers][2] .. "\n" .. line
		else
			local name, value = line:match("^([^:]+):[ \t]*(.*)$")
			check(name ~= nil, path .. ": bad header line: " .. line)
			table.insert(headers, { name, value })
		end
	end
	return headers, (body:gsub("\n", "\r\n"))
end

function connect()
	local conn = mt.connect(socket, 50, 0.1)
	check(conn ~= nil, "mt.connect(" .. socket .. ") failed")
	return conn
end

-- Begin a message: connection info, MAIL FROM (with the queue id and, when
-- opts.auth is set, {auth_authen}), RCPT TO for each of opts.rcpts.  Returns
-- the list of replies to the recipients.
function begin_message(conn, opts)
	local ip = opts.ip or "192.0.2.10"
	if opts.actions then
		-- miltertest's real order is (conn, version, protocol steps, actions),
		-- whatever its manual says.
		check(mt.negotiate(conn, nil, nil, opts.actions) == nil, "mt.negotiate failed")
	end
	if opts.daemon_name then
		mt.macro(conn, SMFIC_CONNECT, "{daemon_name}", opts.daemon_name)
	end
	check(mt.conninfo(conn, "client.example.net", ip) == nil, "mt.conninfo failed")
	check(mt.getreply(conn) == SMFIR_CONTINUE, "connect: unexpected reply")
	if opts.auth then
		mt.macro(conn, SMFIC_MAIL, "i", opts.qid or "TESTQID", "{auth_authen}", opts.auth)
	else
		mt.macro(conn, SMFIC_MAIL, "i", opts.qid or "TESTQID")
	end
	check(mt.mailfrom(conn, opts.from or "<sender@example.net>") == nil, "mt.mailfrom failed")
	local mail_reply = mt.getreply(conn)
	local replies = {}
	if mail_reply ~= SMFIR_CONTINUE then
		return replies, mail_reply
	end
	for i, r in ipairs(opts.rcpts or { "<bob@example.org>" }) do
		check(mt.rcptto(conn, r) == nil, "mt.rcptto failed")
		replies[i] = mt.getreply(conn)
	end
	return replies, mail_reply
end

-- End of headers.  The milter asks the MTA not to send that step
-- (SMFIP_NOEOH; miltertest then refuses mt.eoh); an MTA that sends it
-- anyway must get CONTINUE.
function end_headers(conn)
	local ok, err = pcall(mt.eoh, conn)
	if not ok then
		check(string.find(tostring(err), "SMFIP_NOEOH", 1, true) ~= nil,
		      "mt.eoh failed: " .. tostring(err))
		return
	end
	check(err == nil, "mt.eoh failed")
	check(mt.getreply(conn) == SMFIR_CONTINUE, "eoh: unexpected reply")
end

-- Send the headers and body of a message file (or of opts.headers/opts.body).
-- extra_body (optional) is appended to the body.
function send_content(conn, file, extra_headers, extra_body)
	local headers, body = read_message(file)
	body = body .. (extra_body or "")
	for _, h in ipairs(extra_headers or {}) do
		table.insert(headers, h)
	end
	for _, h in ipairs(headers) do
		check(mt.header(conn, h[1], h[2]) == nil, "mt.header failed")
		check(mt.getreply(conn) == SMFIR_CONTINUE, "header " .. h[1] .. ": unexpected reply")
	end
	end_headers(conn)
	-- In chunks, as an MTA sends a long body.
	local pos = 1
	while pos <= #body do
		check(mt.bodystring(conn, body:sub(pos, pos + 8191)) == nil, "mt.bodystring failed")
		local r = mt.getreply(conn)
		check(r == SMFIR_CONTINUE or r == SMFIR_SKIP, "body: unexpected reply " .. tostring(r))
		pos = pos + 8192
		if r == SMFIR_SKIP then
			break
		end
	end
end

-- End of message; returns the reply.
function finish(conn)
	check(mt.eom(conn) == nil, "mt.eom failed")
	return mt.getreply(conn)
end

-- Expect header name to have been added with exactly value (value nil: absent).
-- n counts instances from the last one added (miltertest's order), default 0.
function expect_header(conn, name, value, n)
	local got = mt.getheader(conn, name, n or 0)
	if value == nil then
		check(not mt.eom_check(conn, MT_HDRADD, name),
		      name .. ": got \"" .. tostring(got) .. "\", want no such header")
	else
		check(got == value, name .. ": got \"" .. tostring(got) .. "\", want \"" .. value .. "\"")
	end
end

function status_value(flag, score, required)
	return string.format("%s, score=%s required=%s", flag, score, required)
end

-- Install config variant n (written by run.sh from the "-- confN:" lines) and
-- send the milter SIGHUP; give the reload thread time to swap.
function sh(cmd)
	local r = os.execute(cmd)
	check(r == true or r == 0, "command failed: " .. cmd)
end

function reload_with(n)
	sh("cp " .. tmpdir .. "/spamshift.conf" .. n .. " " .. conf)
	sh("kill -HUP " .. milter_pid)
	mt.sleep(0.5)
end

-- A spam message to bob, start to finish, on a fresh connection; returns conn and reply.
function spam_to(rcpts, opts)
	opts = opts or {}
	opts.rcpts = rcpts
	local conn = connect()
	begin_message(conn, opts)
	send_content(conn, datadir .. "/probe-spam.eml", opts.headers, opts.extra_body)
	return conn, finish(conn)
end

function ham_to(rcpts, opts)
	opts = opts or {}
	opts.rcpts = rcpts
	local conn = connect()
	begin_message(conn, opts)
	send_content(conn, datadir .. "/probe-ham.eml", opts.headers, opts.extra_body)
	return conn, finish(conn)
end

-- The milter's log so far (run.sh writes it to tmpdir/milter.log, unbuffered).
function milter_log()
	local fh = io.open(tmpdir .. "/milter.log", "rb")
	if fh == nil then return "" end
	local text = fh:read("*a")
	fh:close()
	return text
end

-- Wait until cond() is true, polling every 50 ms at most tries times (default
-- 200: 10 s); fails with what otherwise.  A bound on waiting for a condition,
-- not a timed sleep that hopes the condition holds by then.
function wait_until(cond, what, tries)
	tries = tries or 200
	for _ = 1, tries do
		if cond() then return end
		mt.sleep(0.05)
	end
	check(false, "timed out waiting for " .. what)
end

-- Count the occurrences of the plain string s in the milter's log.
function log_count(s)
	local n, text, at = 0, milter_log(), 1
	while true do
		local i = text:find(s, at, true)
		if i == nil then return n end
		n, at = n + 1, i + #s
	end
end

-- reload_with(n) without a timed sleep: SIGHUP, then wait for the milter's
-- "reloaded" log line.
function reload_with_wait(n)
	local before = log_count("reloaded ")
	sh("cp " .. tmpdir .. "/spamshift.conf" .. n .. " " .. conf)
	sh("kill -HUP " .. milter_pid)
	wait_until(function() return log_count("reloaded ") > before end, "the reload")
end

-- The first line spamshift (cli) prints for cmd, or nil.
function cli_output(args)
	local p = assert(io.popen(cli .. " " .. args .. " 2>/dev/null"))
	local out = p:read("*l")
	p:close()
	return out
end

-- A recipient's own result, which no header carries (issue 18): score and
-- verdict from its line in the milter's log (run.sh sends it to
-- tmpdir/milter.log), or nil.  rcpt as given at RCPT TO, e.g. "<bob@example.org>".
function logged_result(qid, rcpt)
	local text = milter_log()
	local pat = " " .. qid:gsub("%p", "%%%0") .. ": rcpt=" .. rcpt:gsub("%p", "%%%0") ..
		" user=%S+ score=([0-9.]+) verdict=(%a+)"
	return text:match(pat)
end

-- Check `spamshift stats --json` output: want maps a user key to its counts,
-- in the order of fields (e.g. { "scanned", "tagged" }).
function check_stats(out, want, fields)
	for user, counts in pairs(want) do
		local rec = out:match('{"user":"' .. user:gsub("%p", "%%%0") .. '"([^}]*)')
		check(rec ~= nil, "stats has no user " .. user .. ": " .. out)
		for i, name in ipairs(fields) do
			local got = tonumber(rec:match('"' .. name .. '":(%d+)'))
			check(got == counts[i], string.format("%s %s: got %s, want %d", user, name,
			                                      tostring(got), counts[i]))
		end
	end
end
