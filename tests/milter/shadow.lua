-- mode = shadow (issue 18): spamshift scores, logs, records and adds its
-- headers, but never rejects, quarantines or defers.  With reject_threshold
-- under the spam's score the spam is accepted and tagged, its result says
-- what the normal mode would have done, and the log says "would reject"; the
-- scan records keep that verdict, so `spamshift stats` counts what shadow
-- mode would have done.  Under split a second user's recipient is accepted,
-- not deferred.  After a reload with quarantine instead: not quarantined.
-- conf: mode = shadow
-- conf: database = @TMP@/users.db
-- conf: spam_threshold = @MID@
-- conf: reject_threshold = @MID@
-- conf: multi_recipient = split
-- conf2: mode = shadow
-- conf2: database = @TMP@/users.db
-- conf2: spam_threshold = @MID@
-- conf2: quarantine_threshold = @MID@
-- conf2: reject_threshold = off
-- conf2: multi_recipient = split
-- log: mode shadow: nothing is rejected, quarantined or deferred
-- log1: REJ: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag \(shadow mode: would reject\)$
-- log1: REJ: rcpts=1 size=[0-9]+ verdict=tag \(shadow mode: would reject\) model=
-- log1: HAM: rcpts=1 size=[0-9]+ verdict=ham \(shadow mode: would ham\) model=
-- log1: SPLIT: rcpt=carol@example.org user=carol@example.org accepted \(shadow mode: would defer: split from bob@example.org\)
-- log1: SPLIT: rcpts=2 size=[0-9]+ verdict=tag \(shadow mode: would reject\) model=
-- log1: QUAR: rcpts=1 size=[0-9]+ verdict=tag \(shadow mode: would quarantine\) model=
-- nolog: deferred: split from
dofile(srcdir .. "/common.lua")

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "REJ" })
check(reply == SMFIR_ACCEPT, "spam: got reply " .. tostring(reply) .. ", want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=tag; would=reject")
mt.disconnect(conn)

conn, reply = ham_to({ "<bob@example.org>" }, { qid = "HAM" })
check(reply == SMFIR_ACCEPT, "ham: want ACCEPT")
expect_header(conn, "X-Spam-Flag", nil)
expect_header(conn, "X-Spamshift-Result", "score=" .. score_ham .. "; verdict=ham")
mt.disconnect(conn)

conn = connect()
local r = begin_message(conn, { qid = "SPLIT", rcpts = { "<bob@example.org>", "<carol@example.org>" } })
check(r[2] == SMFIR_CONTINUE, "split, shadow: second user got " .. tostring(r[2]) ..
      ", want CONTINUE (no 452)")
send_content(conn, datadir .. "/probe-spam.eml")
check(finish(conn) == SMFIR_ACCEPT, "split, shadow: want ACCEPT")
mt.disconnect(conn)

reload_with(2)
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "QUAR" })
check(reply == SMFIR_ACCEPT, "quarantine, shadow: want ACCEPT")
check(not mt.eom_check(conn, MT_QUARANTINE), "quarantine, shadow: want no quarantine")
expect_header(conn, "X-Spamshift-Result",
              "score=" .. score_spam .. "; verdict=tag; would=quarantine")
mt.disconnect(conn)

-- The scan records hold what spamshift would have done, and the shadow
-- counters count the copies scanned in shadow mode and what would have been
-- done to them.  The writer commits within 200 ms: poll stats until bob's four
-- records are there (bounded), then check everything.
local out
local function stats_now()
	local fh = io.popen(cli .. " stats --db " .. tmpdir .. "/users.db --since all --json 2>&1")
	out = fh:read("*a")
	fh:close()
	return out
end
wait_until(function()
	return stats_now():match('"user":"bob@example%.org","scanned":4') ~= nil
		and out:match('"user":"carol@example%.org","scanned":1') ~= nil
end, "the scan records in stats")
local want = {
	-- user = { scanned, tagged, quarantined, rejected }
	["bob@example.org"] = { 4, 0, 1, 2 },
	["carol@example.org"] = { 1, 0, 0, 1 },
}
check_stats(out, want, { "scanned", "tagged", "quarantined", "rejected" })
local want_shadow = {
	-- user = { scanned, quarantined, rejected } in shadow mode
	["bob@example.org"] = { 4, 1, 2 },
	["carol@example.org"] = { 1, 0, 1 },
}
for user, w in pairs(want_shadow) do
	local s, q, r = out:match('"user":"' .. user:gsub("%p", "%%%0") ..
		'".-"shadow":{"scanned":(%d+),"quarantined":(%d+),"rejected":(%d+)}')
	check(s ~= nil, "stats --json: no shadow counters for " .. user .. ": " .. out)
	check(tonumber(s) == w[1] and tonumber(q) == w[2] and tonumber(r) == w[3],
	      string.format("%s shadow: got %s/%s/%s, want %d/%d/%d", user, s, q, r,
	                    w[1], w[2], w[3]))
end
local total = out:match('"shadow":{"scanned":(%d+),"quarantined":%d+,"rejected":%d+},' ..
	'"lists":{[^}]*},"refits"')
check(tonumber(total) == 5, "stats --json: shadow total got " .. tostring(total) .. ", want 5")
