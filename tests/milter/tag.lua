-- tag: a spam at or above spam_threshold gets SpamAssassin-style headers whose
-- score is exactly what `spamshift classify` prints, a result naming no one,
-- the subject prefix; ham gets "No" and no flag; forged X-Spam-* and
-- X-Spamshift-* headers from the sender are removed (issue 18 finding 6: the
-- milter does when it runs; contrib/postfix/header_checks when it does not).
-- conf: spam_threshold = @MID@
-- conf: subject_prefix = [SPAM]
-- log: TAGSPAM: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log: TAGSPAM: rcpts=1 .*verdict=tag
-- log: TAGHAM: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=ham$
-- log: TAGHAM: rcpts=1 .*verdict=ham
dofile(srcdir .. "/common.lua")

local mid = string.format("%.6f", tonumber(score_ham + (score_spam - score_ham) / 2))

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "TAGSPAM" })
check(mt.test_option(conn, SMFIP_NOHELO), "NOHELO not negotiated")
check(mt.test_option(conn, SMFIP_NODATA), "NODATA not negotiated")
check(mt.test_option(conn, SMFIP_NR_HDR), "no-reply for headers not negotiated")
check(mt.test_action(conn, SMFIF_ADDHDRS), "ADDHDRS not negotiated")
check(reply == SMFIR_ACCEPT, "spam: got reply " .. tostring(reply) .. ", want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spam-Score", score_spam)
expect_header(conn, "X-Spam-Status", status_value("Yes", score_spam, mid))
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=tag")
check(mt.eom_check(conn, MT_HDRCHANGE, "Subject",
                   "[SPAM] CONGRATULATIONS! Claim your FREE prize money now"),
      "Subject: want the [SPAM] prefix")
mt.disconnect(conn)

-- (Short forged values: the message stays in the probe's size bucket, so its
-- score is still what classify prints for the probe.)
conn, reply = ham_to({ "<bob@example.org>" },
                     { qid = "TAGHAM", headers = { { "X-Spam-Flag", "YES" },
                                                   { "X-Spam-Status", "Yes" },
                                                   { "X-Spamshift-Result", "ham" } } })
check(reply == SMFIR_ACCEPT, "ham: got reply " .. tostring(reply) .. ", want ACCEPT")
expect_header(conn, "X-Spam-Flag", nil)
expect_header(conn, "X-Spam-Score", score_ham)
expect_header(conn, "X-Spam-Status", status_value("No", score_ham, mid))
check(mt.eom_check(conn, MT_HDRDELETE, "X-Spam-Flag"), "forged X-Spam-Flag not removed")
check(mt.eom_check(conn, MT_HDRDELETE, "X-Spam-Status"), "forged X-Spam-Status not removed")
check(mt.eom_check(conn, MT_HDRDELETE, "X-Spamshift-Result"),
      "forged X-Spamshift-Result not removed")
check(not mt.eom_check(conn, MT_HDRCHANGE, "Subject"), "ham Subject must not change")
mt.disconnect(conn)
