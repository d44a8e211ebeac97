-- faults.lua - faults around a running milter, each answered without losing a
-- message: every message gets a reply (ACCEPT with a score, or 451 when
-- on_error = tempfail says so), the milter keeps running, and messages after
-- the fault goes are scored normally.
--  1. the store held under an exclusive lock (sqlite3 BEGIN EXCLUSIVE) while
--     mail arrives and its offers queue: mail is still scored at once;
--  2. the store file removed under the running milter;
--  3. the store replaced by a file that is not a database;
--  4. the model file overwritten in place with another (cp onto the mapped
--     file, as an operator might) and then truncated in place.
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml
-- setup: "$CLI" adapt -m "$MODEL" --db "$TMP/users.db" --user carol@example.org
-- conf: database = @TMP@/users.db
-- conf: on_error = tempfail
-- log: LOCKED-[0-9]+: rcpt=.*score=[0-9.]+
-- log: REMOVED-[0-9]+: rcpt=.*score=[0-9.]+
-- log: GARBAGE-[0-9]+: rcpt=.*score=[0-9.]+
-- log: MODELCP-[0-9]+: rcpt=.*score=[0-9.]+
-- log: AFTER: rcpt=.*score=[0-9.]+
-- The removal is one fault episode, logged once (garbage in its place later is
-- the same episode); the 4 s lock is within the busy timeout: no fault.
-- log1: store .*/users\.db: removed or replaced under the running milter
-- nolog: locked by another connection for more than
-- graceful
dofile(srcdir .. "/common.lua")

-- One message to bob and carol; returns the reply (ACCEPT or a 451).
local function one(qid)
	local conn, reply = spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = qid })
	check(reply == SMFIR_ACCEPT or reply == SMFIR_REPLYCODE,
	      qid .. ": got reply " .. tostring(reply) .. ", want ACCEPT or 451")
	if reply == SMFIR_REPLYCODE then
		check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0"), qid .. ": want 451 4.3.0")
	end
	mt.disconnect(conn)
	return reply
end

local function alive(what)
	local r = os.execute("kill -0 " .. milter_pid)
	check(r == true or r == 0, "the milter died after " .. what)
end

local db = tmpdir .. "/users.db"
one("WARM")
mt.sleep(1.5)

-- 1. Exclusive lock held for 4 s by another process.
sh("(echo 'BEGIN EXCLUSIVE; SELECT 1;'; sleep 4; echo 'COMMIT;') | sqlite3 " .. db ..
   " >/dev/null 2>&1 &")
mt.sleep(0.5)
for i = 1, 5 do
	local t0 = os.time()
	one("LOCKED-" .. i)
	check(os.time() - t0 <= 3, "LOCKED-" .. i .. ": a locked store held up the reply")
end
alive("the lock")
mt.sleep(4)

-- 2. The store removed.
sh("rm -f " .. db .. " " .. db .. "-wal " .. db .. "-shm")
for i = 1, 5 do
	one("REMOVED-" .. i)
end
mt.sleep(1.5)
alive("the removal")

-- 3. Replaced by garbage.
sh("head -c 65536 /dev/urandom > " .. db)
for i = 1, 5 do
	one("GARBAGE-" .. i)
end
mt.sleep(1.5)
alive("the garbage store")

-- 4. The model overwritten in place with the same model (same size), then
-- truncated in place to half.
sh("cp " .. tmpdir .. "/model2.bin " .. tmpdir .. "/model.bin")
for i = 1, 3 do
	one("MODELCP-" .. i)
end
alive("cp onto the model")
sh("truncate -s 1000 " .. tmpdir .. "/model.bin")
for i = 1, 3 do
	one("MODELTRUNC-" .. i)
end
alive("truncating the model")
sh("cp " .. tmpdir .. "/model2.bin " .. tmpdir .. "/model.bin")
one("AFTER")
alive("the faults")
