-- reject: a spam at or above reject_threshold is refused with 550 5.7.1 and
-- the configured text; ham passes.
-- conf: spam_threshold = @MID@
-- conf: reject_threshold = @MID@
-- conf: reject_text = Spam refused here
-- log: REJSPAM: .*verdict=reject
-- log: REJHAM: .*verdict=ham
dofile(srcdir .. "/common.lua")

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "REJSPAM" })
check(reply == SMFIR_REPLYCODE, "spam: got reply " .. tostring(reply) .. ", want a reply code")
check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "Spam refused here"),
      "spam: want 550 5.7.1 and the configured reject text")
check(not mt.eom_check(conn, MT_HDRADD), "a rejected message needs no headers")
mt.disconnect(conn)

conn, reply = ham_to({ "<bob@example.org>" }, { qid = "REJHAM" })
check(reply == SMFIR_ACCEPT, "ham: got reply " .. tostring(reply) .. ", want ACCEPT")
expect_header(conn, "X-Spam-Score", score_ham)
mt.disconnect(conn)
