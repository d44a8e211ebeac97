-- storefault.lua - helpers for the store fault scripts in tests/faults/
-- (issue 6, item 3).  Each script makes one fault around a running milter and
-- checks: every message is answered as if nothing were wrong (the store is not
-- on the SMTP path: scored, ACCEPT with the score header, even with
-- on_error = tempfail), the milter stays up, the fault is logged once (the
-- script's "-- log1:" lines), feedback acknowledged before the fault is still
-- there after it, and once the fault goes the scan records of later messages
-- are written again.
dofile(srcdir .. "/common.lua")

-- Output of a shell command, trailing white space removed.
function out(cmd)
	local p = io.popen(cmd)
	local o = p:read("*a")
	p:close()
	return (o:gsub("%s+$", ""))
end

local function query(db, sql)
	local v = tonumber(out("sqlite3 -cmd '.timeout 20000' '" .. db .. "' '" .. sql .. "' 2>&1"))
	check(v ~= nil, "sqlite3 " .. db .. ": " .. sql .. " failed")
	return v
end

-- Recipients' copies counted in the store's scan records.
function scanned(db)
	return query(db, "SELECT coalesce(sum(scanned + skipped + errors), 0) FROM scan_days")
end

-- Feedback rows (what `spamshift learn` acknowledged).
function feedback(db)
	return query(db, "SELECT count(*) FROM feedback")
end

-- One spam message to bob and carol, which must be scored normally.
function scored(qid)
	local conn, reply = spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = qid })
	check(reply == SMFIR_ACCEPT, qid .. ": got reply " .. tostring(reply) .. ", want ACCEPT")
	check(mt.getheader(conn, "X-Spam-Score", 0) ~= nil, qid .. ": no X-Spam-Score header")
	mt.disconnect(conn)
end

function alive(what)
	local r = os.execute("kill -0 " .. milter_pid)
	check(r == true or r == 0, "the milter died after " .. what)
end

-- Wait up to secs for fn() to be true (polled every 0.2 s); fail with what.
function wait_for(secs, what, fn)
	for _ = 1, secs * 5 do
		if fn() then
			return
		end
		mt.sleep(0.2)
	end
	check(fn(), what)
end

-- The milter's log so far has a line matching the Lua pattern pat.
function logged(pat)
	local fh = io.open(tmpdir .. "/milter.log", "r")
	if fh == nil then
		return false
	end
	local text = fh:read("*a")
	fh:close()
	return text:find(pat) ~= nil
end
