-- malformed MIME: an unterminated multipart, broken base64, an unknown
-- charset, NUL and 0xff bytes and a truncated nested message are still
-- scored and delivered, never refused or failed.
-- conf: spam_threshold = @MID@
-- conf: on_error = tempfail
-- log: BROKEN: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=[a-z]+$
-- log: BROKEN: rcpts=1 size=[0-9]+
-- nolog: internal error
dofile(srcdir .. "/common.lua")

local conn, reply = nil, nil
conn = connect()
begin_message(conn, { qid = "BROKEN" })
send_content(conn, datadir .. "/malformed.eml")
reply = finish(conn)
check(reply == SMFIR_ACCEPT, "malformed: got " .. tostring(reply) .. ", want ACCEPT")
check(mt.getheader(conn, "X-Spam-Score", 0) ~= nil, "malformed: want a score header")
mt.disconnect(conn)

-- No headers and no body at all.
conn = connect()
begin_message(conn, { qid = "EMPTY" })
end_headers(conn)
reply = finish(conn)
check(reply == SMFIR_ACCEPT, "empty: got " .. tostring(reply) .. ", want ACCEPT")
mt.disconnect(conn)
