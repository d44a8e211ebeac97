-- Allow and block lists in the milter (issue 18): decided per recipient
-- before the score counts, in force from the first message (loaded before
-- serving), each decision on the recipient's log line with its entry.
--   bob blocks the domain @example.org: the ham probe (From olivia@example.org)
--   is tagged for him, ham for carol (no entries);
--   every user of example.com allows @example.net and the spam probe's From
--   address: the spam probe (envelope sender@example.net) is ham for
--   dave@example.com, spam for carol;
--   erin@example.net allows only the From address: the envelope sender is not
--   allowed, so a forged From alone does not let the spam probe through;
--   a sender removed with --unlist and a SIGHUP-free resync (the maintenance
--   thread rereads within a second): bob's next ham probe is ham again.
-- setup: "$CLI" user --db "$TMP/users.db" --user bob@example.org --block @example.org
-- setup: "$CLI" user --db "$TMP/users.db" --domain example.com --allow @example.net --allow winner@lucky-prize.example.biz
-- setup: "$CLI" user --db "$TMP/users.db" --user erin@example.net --allow winner@lucky-prize.example.biz
-- conf: database = @TMP@/users.db
-- log1: allow and block lists: 4 entries
-- log1: BOB: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag listed=block\(bob@example.org @example.org\)$
-- log1: CAROL: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=ham$
-- log1: DAVE: rcpt=dave@example.com user=dave@example.com score=[0-9.]+ verdict=ham listed=allow\(@example.com [a-z@.-]+\)$
-- log1: CSPAM: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=tag$
-- log1: ERIN: rcpt=erin@example.net user=erin@example.net score=[0-9.]+ verdict=tag$
-- log1: BOB2: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=ham$
dofile(srcdir .. "/common.lua")

local function one(kind, rcpt, qid, want_flag)
	local send = kind == "spam" and spam_to or ham_to
	local conn, reply = send({ rcpt }, { qid = qid })
	check(reply == SMFIR_ACCEPT, qid .. ": want ACCEPT")
	expect_header(conn, "X-Spam-Flag", want_flag)
	mt.disconnect(conn)
end

one("ham", "<bob@example.org>", "BOB", "YES")
one("ham", "<carol@example.org>", "CAROL", nil)
one("spam", "<dave@example.com>", "DAVE", nil)
one("spam", "<carol@example.org>", "CSPAM", "YES")
one("spam", "<erin@example.net>", "ERIN", "YES")

-- Unlisted in the store: the maintenance thread picks it up without a reload.
sh(cli .. " user --db " .. tmpdir .. "/users.db --user bob@example.org --unlist @example.org")
wait_until(function() return log_count("allow and block lists: 3 entries") > 0 end,
	   "the lists reread")
one("ham", "<bob@example.org>", "BOB2", nil)
