-- Per-user thresholds (spamshift user --spam-threshold, in the store): carol
-- wants mail tagged only from 0.999 on, so the spam probe is not tagged for
-- her; dave from 0.005 on, so even the ham probe is; bob has none and gets the
-- global one.  With both bob and carol on one message, least takes carol's
-- result; each recipient's own verdict is in the log, none in the headers.  Clearing carol's threshold while the milter runs takes effect
-- within a second, without a reload.
-- setup: "$CLI" user --db "$TMP/users.db" --user Carol@Example.org --spam-threshold 0.999
-- setup: "$CLI" user --db "$TMP/users.db" --user dave@example.org --spam-threshold 0.005
-- conf: database = @TMP@/users.db
-- conf: spam_threshold = @MID@
-- conf: multi_recipient = least
-- log: per-user thresholds: 2 users
-- log: per-user thresholds: 1 user
-- log1: BOTH: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log1: BOTH: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=ham$
-- log1: BOTH: rcpts=2 .*verdict=ham
dofile(srcdir .. "/common.lua")

local mid = string.format("%.6f", tonumber(score_ham + (score_spam - score_ham) / 2))
-- The maintenance thread reads the thresholds at start and then every second.
mt.sleep(1.5)

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "BOB" })
check(reply == SMFIR_ACCEPT, "bob: want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spam-Status", status_value("Yes", score_spam, mid))
mt.disconnect(conn)

conn, reply = spam_to({ "<carol@example.org>" }, { qid = "CAROL" })
check(reply == SMFIR_ACCEPT, "carol: want ACCEPT")
expect_header(conn, "X-Spam-Flag", nil)
expect_header(conn, "X-Spam-Status", status_value("No", score_spam, "0.999000"))
mt.disconnect(conn)

conn, reply = ham_to({ "<dave@example.org>" }, { qid = "DAVE" })
check(reply == SMFIR_ACCEPT, "dave: want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spam-Status", status_value("Yes", score_ham, "0.005000"))
mt.disconnect(conn)

conn, reply = spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = "BOTH" })
check(reply == SMFIR_ACCEPT, "both: want ACCEPT")
expect_header(conn, "X-Spam-Flag", nil)
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=ham")
check(mt.getheader(conn, "X-Spamshift-Result", 1) == nil, "both: want one result header")
mt.disconnect(conn)

-- Cleared while running: carol is back on the global threshold.
sh(cli .. " user --db " .. tmpdir .. "/users.db --user carol@example.org --clear-spam-threshold")
mt.sleep(1.5)
conn, reply = spam_to({ "<carol@example.org>" }, { qid = "CAROL2" })
check(reply == SMFIR_ACCEPT, "carol after clear: want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spam-Status", status_value("Yes", score_spam, mid))
mt.disconnect(conn)
