-- multi_recipient = split: recipients of another user than the first accepted
-- one get 452 4.5.3 so that each user's copy arrives alone; the same user
-- (+detail, case, alias map) is accepted; non-SMTP submissions are never split.
-- conf: multi_recipient = split
-- conf: spam_threshold = @MID@
-- conf: alias_map = @DATA@/aliases
-- conf: nonsmtp_daemon_names = NONSMTP
-- log: rcpt=carol@example.org user=carol@example.org deferred: split from bob@example.org
-- log1: SPLIT: rcpt=bob@example.org user=bob@example.org score=
-- log1: SPLIT: rcpt=BOB\+x@example.org user=bob@example.org score=
-- log1: SPLIT: rcpt=robert@example.org user=bob@example.org score=
-- nolog: SPLIT: rcpt=carol@example.org user=carol@example.org score=
-- log1: SPLIT: rcpts=3 size=
-- log1: LOCAL: rcpt=carol@example.org user=carol@example.org score=
-- log1: LOCAL: rcpts=2 size=
dofile(srcdir .. "/common.lua")

local conn = connect()
local r = begin_message(conn, { qid = "SPLIT", rcpts = { "<bob@example.org>",
	"<carol@example.org>", "<BOB+x@example.org>", "<robert@example.org>" } })
check(r[1] == SMFIR_CONTINUE, "first recipient: want CONTINUE")
check(r[2] == SMFIR_REPLYCODE, "other user: got " .. tostring(r[2]) .. ", want a 452 reply")
check(r[3] == SMFIR_CONTINUE, "same user with +detail: want CONTINUE")
check(r[4] == SMFIR_CONTINUE, "alias of the same user: want CONTINUE")
send_content(conn, datadir .. "/probe-spam.eml")
check(finish(conn) == SMFIR_ACCEPT, "want ACCEPT")
-- One result for the copy, naming none of its three addresses.
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=tag")
check(mt.getheader(conn, "X-Spamshift-Result", 1) == nil,
      "three recipients accepted: got several result headers, want one")
mt.disconnect(conn)

-- A local submission (Postfix non_smtpd_milters with
-- milter_macro_daemon_name = NONSMTP): all recipients accepted.
conn = connect()
r = begin_message(conn, { qid = "LOCAL", daemon_name = "NONSMTP",
	rcpts = { "<bob@example.org>", "<carol@example.org>" } })
check(r[2] == SMFIR_CONTINUE, "non-SMTP: got " .. tostring(r[2]) .. ", want CONTINUE")
send_content(conn, datadir .. "/probe-ham.eml")
check(finish(conn) == SMFIR_ACCEPT, "non-SMTP: want ACCEPT")
mt.disconnect(conn)
