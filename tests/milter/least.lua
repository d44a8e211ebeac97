-- multi_recipient = least: one message to three recipients (two of them the
-- same user once lowercased and +detail stripped) takes the least invasive
-- verdict; nobody is deferred.  Its one X-Spamshift-Result names no one (it
-- was one header per recipient, naming each, in every copy: issue 18); each
-- recipient's result is a log line of its own.
-- conf: multi_recipient = least
-- conf: spam_threshold = @MID@
-- log1: LEAST: rcpt=Bob\+news@Example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log1: LEAST: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=tag$
-- log1: LEAST: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log1: LEAST: rcpts=3 size=[0-9]+ verdict=tag model=
dofile(srcdir .. "/common.lua")

local conn = connect()
local replies = begin_message(conn, { qid = "LEAST",
	rcpts = { "<Bob+news@Example.org>", "<carol@example.org>", "<bob@example.org>" } })
for i, r in ipairs(replies) do
	check(r == SMFIR_CONTINUE, "rcpt " .. i .. ": got " .. tostring(r) .. ", want CONTINUE")
end
send_content(conn, datadir .. "/probe-spam.eml")
check(finish(conn) == SMFIR_ACCEPT, "want ACCEPT")
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=tag")
check(mt.getheader(conn, "X-Spamshift-Result", 1) == nil,
      "three recipients: got more than one X-Spamshift-Result, want one")
expect_header(conn, "X-Spam-Flag", "YES")
mt.disconnect(conn)
