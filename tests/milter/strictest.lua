-- multi_recipient = strictest: the most invasive recipient verdict applies to
-- the message; with reject at the spam's score, a message to two users is
-- rejected as a whole.  (Both users have no model of their own here, so their
-- verdicts agree; how the policies combine differing verdicts is
-- unit-tested in test_milter_units, and with per-user models in peruser.lua
-- and protect.lua.)
-- conf: multi_recipient = strictest
-- conf: spam_threshold = @MID@
-- conf: reject_threshold = @MID@
-- log: STRICT: .*verdict=reject
dofile(srcdir .. "/common.lua")

local conn = connect()
begin_message(conn, { qid = "STRICT", rcpts = { "<bob@example.org>", "<carol@example.org>" } })
send_content(conn, datadir .. "/probe-spam.eml")
check(finish(conn) == SMFIR_REPLYCODE, "want a reject reply")
check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "Message rejected as spam"),
      "want 550 5.7.1 Message rejected as spam")
mt.disconnect(conn)
