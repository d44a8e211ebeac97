-- auth_skip: mail from an authenticated sender ({auth_authen}) is accepted at
-- MAIL FROM without scanning (skip_authenticated defaults to yes); the same
-- message without authentication is scanned.
-- log: AUTH: from=<alice@example.org> verdict=skipped \(authenticated as alice\)
-- log: NOAUTH: .*verdict=tag
-- conf: spam_threshold = @MID@
dofile(srcdir .. "/common.lua")

local conn = connect()
local _, mail = begin_message(conn, { qid = "AUTH", auth = "alice", from = "<alice@example.org>" })
check(mail == SMFIR_ACCEPT, "authenticated: got " .. tostring(mail) .. ", want ACCEPT at MAIL")
mt.disconnect(conn)

local reply
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "NOAUTH" })
check(reply == SMFIR_ACCEPT, "want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
mt.disconnect(conn)
