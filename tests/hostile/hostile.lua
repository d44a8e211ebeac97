-- hostile.lua - the hostile messages of tests/hostile/mkhostile.py through a
-- real spamshift-milter, as an MTA sends them (headers one by one, the body
-- in 8 KiB chunks): each is answered ACCEPT with a score header within 60 s,
-- the milter logs one line per message, and it keeps running.
-- A 1 MB header line is more than an MTA passes on (Postfix cuts a header at
-- header_size_limit, 100 KiB by default):
-- it is sent cut to 1000 bytes (miltertest 1.4 itself segfaults on a header
-- value of 16000 bytes); the CLI test (hostile.sh) scores the whole line.
-- setup: python3 "$DATA/../../hostile/mkhostile.py" "$TMP/hostile"
-- conf: on_error = tempfail
-- conf: max_message_size = 10M
-- graceful
-- nolog: internal error
-- log: HOSTILE-broken-boundary: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-body-100m: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-headers-10k: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-header-1m: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-deep-nesting: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-rfc822-nesting: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-invalid-utf8: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-unknown-charset: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-base64-huge: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-base64-oneline: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-html-million: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-nul-bytes: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-long-line: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
-- log: HOSTILE-many-parts: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+
dofile(srcdir .. "/common.lua")

local cases = {
	"broken-boundary", "body-100m", "headers-10k", "header-1m", "deep-nesting",
	"rfc822-nesting", "invalid-utf8", "unknown-charset", "base64-huge",
	"base64-oneline", "html-million", "nul-bytes", "long-line", "many-parts",
}

for _, name in ipairs(cases) do
	local path = tmpdir .. "/hostile/" .. name .. ".eml"
	local headers, body = read_message(path)
	local t0 = os.time()
	local conn = connect()
	begin_message(conn, { qid = "HOSTILE-" .. name })
	for _, h in ipairs(headers) do
		local v = h[2]
		if #v > 1000 then
			v = v:sub(1, 1000)
		end
		check(mt.header(conn, h[1], v) == nil, name .. ": mt.header failed")
		check(mt.getreply(conn) == SMFIR_CONTINUE, name .. ": header: unexpected reply")
	end
	end_headers(conn)
	local pos = 1
	while pos <= #body do
		check(mt.bodystring(conn, body:sub(pos, pos + 8191)) == nil, name .. ": mt.bodystring failed")
		local r = mt.getreply(conn)
		check(r == SMFIR_CONTINUE or r == SMFIR_SKIP,
		      name .. ": body: unexpected reply " .. tostring(r))
		pos = pos + 8192
		if r == SMFIR_SKIP then
			break
		end
	end
	local reply = finish(conn)
	local secs = os.time() - t0
	check(reply == SMFIR_ACCEPT, name .. ": got " .. tostring(reply) .. ", want ACCEPT")
	check(mt.getheader(conn, "X-Spam-Score", 0) ~= nil, name .. ": want an X-Spam-Score header")
	check(secs <= 60, name .. ": got " .. secs .. " s, want at most 60")
	mt.echo(string.format("%s: %d bytes, accepted with a score in %d s", name,
		#body, secs))
	mt.disconnect(conn)
	headers, body = nil, nil
	collectgarbage()
end
