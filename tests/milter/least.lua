-- multi_recipient = least: one message to three recipients (two of them the
-- same user once lowercased and +detail stripped) carries one result header
-- per recipient and the least invasive verdict; nobody is deferred.
-- conf: multi_recipient = least
-- conf: spam_threshold = @MID@
-- log: LEAST: rcpts=Bob\+news@Example.org\(user=bob@example.org score=[0-9.]+ tag\),carol@example.org\(user=carol@example.org score=[0-9.]+ tag\),bob@example.org\(user=bob@example.org
dofile(srcdir .. "/common.lua")

local conn = connect()
local replies = begin_message(conn, { qid = "LEAST",
	rcpts = { "<Bob+news@Example.org>", "<carol@example.org>", "<bob@example.org>" } })
for i, r in ipairs(replies) do
	check(r == SMFIR_CONTINUE, "rcpt " .. i .. ": got " .. tostring(r) .. ", want CONTINUE")
end
send_content(conn, datadir .. "/probe-spam.eml")
check(finish(conn) == SMFIR_ACCEPT, "want ACCEPT")
-- mt.getheader() counts from the last added instance.
expect_header(conn, "X-Spamshift-Result", "Bob+news@Example.org; score=" .. score_spam ..
              "; verdict=tag", 2)
expect_header(conn, "X-Spamshift-Result", "carol@example.org; score=" .. score_spam ..
              "; verdict=tag", 1)
expect_header(conn, "X-Spamshift-Result", "bob@example.org; score=" .. score_spam ..
              "; verdict=tag", 0)
expect_header(conn, "X-Spam-Flag", "YES")
mt.disconnect(conn)
