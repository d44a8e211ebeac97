-- reload: SIGHUP swaps config and model atomically while a message is in
-- flight; that message finishes on the old ones, new messages use the new
-- ones; a reload whose model is unreadable keeps the running one and logs why.
-- conf: spam_threshold = @MID@
-- conf2: spam_threshold = 0.999
-- conf3: spam_threshold = 0.5
-- conf3: model = @TMP@/no-such-model.bin
-- conf4: spam_threshold = 0.5
-- conf4: model = @TMP@/truncated.bin
-- log: SIGHUP: reloading
-- log: reloaded .*spamshift.conf: model [0-9a-f]+
-- log: reload failed, keeping model [0-9a-f]+: .*no-such-model.bin
-- log: reload failed, keeping model [0-9a-f]+: .*truncated.bin
-- log: INFLIGHT: .*verdict=tag
-- log: NEWCONF: .*verdict=ham
-- graceful: SIGTERM at the end must drain and exit 0
dofile(srcdir .. "/common.lua")

local mid = string.format("%.6f", tonumber(score_ham + (score_spam - score_ham) / 2))

-- A message in flight: headers and half the body under the first config.
local old = connect()
begin_message(old, { qid = "INFLIGHT" })
local headers, body = read_message(datadir .. "/probe-spam.eml")
for _, h in ipairs(headers) do
	mt.header(old, h[1], h[2])
end
end_headers(old)
mt.bodystring(old, body:sub(1, 50))

reload_with(2)

-- A new message sees the new threshold.
local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "NEWCONF" })
check(reply == SMFIR_ACCEPT, "new: want ACCEPT")
expect_header(conn, "X-Spam-Status", status_value("No", score_spam, "0.999000"))
expect_header(conn, "X-Spam-Flag", nil)
mt.disconnect(conn)

-- The message in flight finishes on the old one.
mt.bodystring(old, body:sub(51))
check(finish(old) == SMFIR_ACCEPT, "in flight: want ACCEPT")
expect_header(old, "X-Spam-Status", status_value("Yes", score_spam, mid))
expect_header(old, "X-Spam-Flag", "YES")
mt.disconnect(old)

-- An unreadable model: the milter keeps running on the previous runtime.
reload_with(3)
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "KEPT" })
check(reply == SMFIR_ACCEPT, "after a failed reload: want ACCEPT")
expect_header(conn, "X-Spam-Status", status_value("No", score_spam, "0.999000"))
mt.disconnect(conn)

-- A truncated model file: refused by its checksum, the running one stays.
sh("head -c 1000 " .. tmpdir .. "/model.bin > " .. tmpdir .. "/truncated.bin")
reload_with(4)
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "KEPT2" })
check(reply == SMFIR_ACCEPT, "after a failed reload: want ACCEPT")
expect_header(conn, "X-Spam-Status", status_value("No", score_spam, "0.999000"))
mt.disconnect(conn)
