-- auth_skip: mail from an authenticated sender ({auth_authen}) passes without
-- scanning and untouched (skip_authenticated defaults to yes): carried to end of
-- message, where its recipients are known for the scan records, and accepted
-- there without headers; the same message without authentication is scanned.
-- log: AUTH: from=<alice@example.org> rcpts=1 verdict=skipped \(authenticated as alice\)
-- log: NOAUTH: .*verdict=tag
-- conf: spam_threshold = @MID@
dofile(srcdir .. "/common.lua")

local conn, reply = spam_to({ "<bob@example.org>" },
                            { qid = "AUTH", auth = "alice", from = "<alice@example.org>" })
check(reply == SMFIR_ACCEPT, "authenticated: got " .. tostring(reply) .. ", want ACCEPT")
expect_header(conn, "X-Spam-Score", nil)
expect_header(conn, "X-Spam-Flag", nil)
mt.disconnect(conn)

conn, reply = spam_to({ "<bob@example.org>" }, { qid = "NOAUTH" })
check(reply == SMFIR_ACCEPT, "want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
mt.disconnect(conn)
