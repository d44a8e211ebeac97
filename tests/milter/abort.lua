-- abort: the MTA aborts a message in the middle of its body; the next
-- message on the same connection is scanned normally and nothing of the
-- aborted one leaks into it (the drain at SIGTERM finds nothing in flight).
-- conf: spam_threshold = @MID@
-- log: message aborted after [0-9]+ bytes
-- log: AFTER: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=ham$
-- log: AFTER: rcpts=1 size=[0-9]+ verdict=ham
-- nolog: stopping with [0-9]+ messages in flight
-- graceful: SIGTERM at the end must drain and exit 0
dofile(srcdir .. "/common.lua")

local conn = connect()
begin_message(conn, { qid = "ABORTED", rcpts = { "<carol@example.org>" } })
local headers, body = read_message(datadir .. "/probe-spam.eml")
for _, h in ipairs(headers) do
	mt.header(conn, h[1], h[2])
end
end_headers(conn)
check(mt.bodystring(conn, body:sub(1, 40)) == nil, "mt.bodystring failed")
check(mt.abort(conn) == nil, "mt.abort failed")

-- The next message on the same connection.
mt.macro(conn, SMFIC_MAIL, "i", "AFTER")
check(mt.mailfrom(conn, "<other@example.net>") == nil, "mt.mailfrom failed")
check(mt.rcptto(conn, "<bob@example.org>") == nil, "mt.rcptto failed")
send_content(conn, datadir .. "/probe-ham.eml")
check(finish(conn) == SMFIR_ACCEPT, "want ACCEPT")
expect_header(conn, "X-Spam-Score", score_ham)
expect_header(conn, "X-Spamshift-Result", "score=" .. score_ham .. "; verdict=ham")
mt.disconnect(conn)

-- A connection dropped mid-body (no abort, no quit): close must clean up.
conn = connect()
begin_message(conn, { qid = "DROPPED" })
mt.header(conn, "Subject", "dropped")
end_headers(conn)
mt.bodystring(conn, "half a body")
mt.disconnect(conn, false)
