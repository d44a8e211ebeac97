-- quarantine: a spam at or above quarantine_threshold is accepted into the
-- MTA's quarantine (Postfix: the hold queue) with its headers.
-- conf: spam_threshold = @MID@
-- conf: quarantine_threshold = @MID@
-- log: QSPAM: .*verdict=quarantine
dofile(srcdir .. "/common.lua")

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "QSPAM" })
check(reply == SMFIR_ACCEPT, "spam: got reply " .. tostring(reply) .. ", want ACCEPT")
check(mt.eom_check(conn, MT_QUARANTINE), "spam: want a quarantine request")
check(mt.eom_check(conn, MT_QUARANTINE, "spamshift: score=" .. score_spam),
      "quarantine reason: want spamshift: score=" .. score_spam)
expect_header(conn, "X-Spam-Flag", "YES")
mt.disconnect(conn)

conn, reply = ham_to({ "<bob@example.org>" }, { qid = "QHAM" })
check(reply == SMFIR_ACCEPT, "ham: want ACCEPT")
check(not mt.eom_check(conn, MT_QUARANTINE), "ham must not be quarantined")
mt.disconnect(conn)
