-- per-user models: carol taught spamshift that the spam probe and mail like
-- it are ham (spamshift learn + adapt into the store); bob did not.  The same
-- message to both is scored with carol's published model for carol and the
-- global head for bob, so least takes carol's (lower) result and strictest
-- bob's; scanned mail is offered to the users' reservoirs through the writer
-- thread.  carol's score must be exactly what `spamshift classify --user
-- carol@example.org` prints for the probe on the same store and model (her
-- logged score, byte for byte), and below bob's.  The refit happens in setup,
-- before the milter starts; the milter loads carol's model in its maintenance
-- thread, so the test sends warm-up messages until the log shows one scored
-- with her model (bounded polling, no timed sleep).
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml "$DATA"/probe-spam.eml
-- setup: "$CLI" adapt -m "$MODEL" --db "$TMP/users.db" --user carol@example.org
-- conf: database = @TMP@/users.db
-- conf: spam_threshold = @MID@
-- conf: multi_recipient = least
-- conf2: database = @TMP@/users.db
-- conf2: spam_threshold = @MID@
-- conf2: multi_recipient = strictest
-- log1: LEAST: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log1: LEAST: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=[a-z]+ user_model=1$
-- log1: STRICT: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log1: STRICT: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=[a-z]+ user_model=1$
-- log1: STRICT: rcpts=2 .*verdict=tag
-- log: store writer: [1-9][0-9]* offers written, 0 dropped, 0 failed
-- graceful: the writer commits its queue at SIGTERM
dofile(srcdir .. "/common.lua")

local mid = string.format("%.6f", tonumber(score_ham + (score_spam - score_ham) / 2))

-- The first message for a user is scored globally while the maintenance
-- thread loads the user's model: send warm-up messages until one is scored
-- with carol's model (the log line has user_model=VERSION for her).
local function warm_up(tag)
	local i = 0
	wait_until(function()
		i = i + 1
		local qid = tag .. "-" .. i
		local conn = spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = qid })
		mt.disconnect(conn)
		local line
		wait_until(function()
			line = milter_log():match(" " .. qid:gsub("%p", "%%%0") ..
				": rcpt=carol@example%.org [^\n]*")
			return line ~= nil
		end, "carol's log line of " .. qid)
		return line:find("user_model=", 1, true) ~= nil
	end, "carol's model in the milter (" .. tag .. ")", 100)
end

-- What the CLI says carol's score is, on the same model and store.
local want_carol = cli_output("classify -m " .. tmpdir .. "/model.bin --db " .. tmpdir ..
	"/users.db --user carol@example.org " .. datadir .. "/probe-spam.eml")
check(want_carol ~= nil, "spamshift classify --user printed nothing")
want_carol = want_carol:match("^[^\t]*\t([^\t]+)")
check(want_carol ~= nil, "spamshift classify --user: no score column")
mt.echo("spamshift classify --user carol@example.org: " .. want_carol)

-- Each recipient's own result is in the log, not in the headers.
local function result_score(qid, rcpt)
	local score, verdict = logged_result(qid, rcpt)
	check(score ~= nil, qid .. ": no log line for " .. rcpt)
	return score, verdict
end

warm_up("WARM1")
local conn, reply = spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = "LEAST" })
check(reply == SMFIR_ACCEPT, "least: want ACCEPT")
local bob, bob_v = result_score("LEAST", "bob@example.org")
local carol, carol_v = result_score("LEAST", "carol@example.org")
check(bob == score_spam, "bob (global head): got " .. tostring(bob) .. ", want " .. score_spam)
check(bob_v == "tag", "bob: got verdict " .. tostring(bob_v) .. ", want tag")
check(carol == want_carol,
      "carol: the milter's score " .. tostring(carol) .. ", classify --user's " .. want_carol)
check(tonumber(carol) < tonumber(bob),
      "carol (her own model): got " .. tostring(carol) .. ", want below bob's " .. bob)
mt.echo("carol's score with her model: " .. carol .. " (" .. carol_v .. ")")
-- least: the message takes carol's (less invasive, or equal and lower) result.
expect_header(conn, "X-Spam-Score", carol)
if carol_v == "ham" then
	expect_header(conn, "X-Spam-Flag", nil)
	expect_header(conn, "X-Spam-Status", status_value("No", carol, mid))
else
	expect_header(conn, "X-Spam-Flag", "YES")
	expect_header(conn, "X-Spam-Status", status_value("Yes", carol, mid))
end
mt.disconnect(conn)

-- strictest (after a reload, whose fresh head cache warms up again).
reload_with_wait(2)
warm_up("WARM2")
conn, reply = spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = "STRICT" })
check(reply == SMFIR_ACCEPT, "strictest: want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spam-Score", score_spam)
check(select(1, result_score("STRICT", "carol@example.org")) == carol,
      "carol's score changed across the reload")
mt.disconnect(conn)
