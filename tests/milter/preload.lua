-- preload_users (issue 18): the users whose models were published most
-- recently are loaded into the head cache before the milter serves, so the
-- very first message to carol after a start is scored with her own model
-- (user_model=1 in her log line), with no warm-up.  After a reload with
-- preload_users = 0 the new cache starts empty: the first message to her is
-- scored with the global head again (no user_model), which shows the check
-- above can fail.
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml "$DATA"/probe-spam.eml
-- setup: "$CLI" adapt -m "$MODEL" --db "$TMP/users.db" --user carol@example.org
-- conf: database = @TMP@/users.db
-- conf2: database = @TMP@/users.db
-- conf2: preload_users = 0
-- log1: preloaded 1 user model \(preload_users = 10000\) in [0-9.]+ ms
-- log1: FIRST: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=[a-z]+ user_model=1$
-- log1: AFTER: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=[a-z]+$
dofile(srcdir .. "/common.lua")

local conn, reply = spam_to({ "<carol@example.org>" }, { qid = "FIRST" })
check(reply == SMFIR_ACCEPT, "first message: want ACCEPT")
mt.disconnect(conn)

reload_with_wait(2)
conn, reply = spam_to({ "<carol@example.org>" }, { qid = "AFTER" })
check(reply == SMFIR_ACCEPT, "after the reload: want ACCEPT")
mt.disconnect(conn)
