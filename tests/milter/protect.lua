-- protect, the default multi_recipient (issue 18, finding 2): one recipient's
-- teaching never lowers another's protection.  carol taught the spam probe
-- (and mail like it) as ham, so her own model passes it; bob's (the global
-- head) says reject.  Sent to both, the message is still flagged for bob:
-- under the old default, least, it arrived with no X-Spam-Flag at all.  Nor
-- is it refused because of bob's model (carol's mail is not lost): protect
-- rejects only when every recipient's verdict is reject.
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml "$DATA"/probe-spam.eml
-- setup: "$CLI" adapt -m "$MODEL" --db "$TMP/users.db" --user carol@example.org
-- conf: database = @TMP@/users.db
-- conf: spam_threshold = @MID@
-- conf: reject_threshold = @MID@
-- log: multi_recipient protect
-- log1: BOTH: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=ham user_model=1$
-- log1: BOTH: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=reject$
-- log1: BOTH: rcpts=2 size=[0-9]+ verdict=tag model=
-- log1: BOB: rcpts=1 size=[0-9]+ verdict=reject model=
dofile(srcdir .. "/common.lua")

-- The first message for a user is scored globally while the maintenance
-- thread loads the user's model (at most a second later).
local conn = spam_to({ "<carol@example.org>" }, { qid = "WARM" })
mt.disconnect(conn)
mt.sleep(1.5)

local reply
conn, reply = spam_to({ "<carol@example.org>", "<bob@example.org>" }, { qid = "BOTH" })
check(reply == SMFIR_ACCEPT, "bob and carol: got reply " .. tostring(reply) ..
      ", want ACCEPT (tagged, not refused)")
expect_header(conn, "X-Spam-Flag", "YES")
local carol, carol_v = logged_result("BOTH", "carol@example.org")
check(carol_v == "ham", "carol's own verdict: got " .. tostring(carol_v) ..
      ", want ham (else this test shows nothing)")
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=tag")
mt.disconnect(conn)

-- bob alone: his own verdict, reject.
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "BOB" })
check(reply == SMFIR_REPLYCODE, "bob alone: got reply " .. tostring(reply) .. ", want 550")
mt.disconnect(conn)
