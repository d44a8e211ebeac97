-- store_slow: another process holds the store's write lock for longer than the
-- milter's busy timeout (5 s; the writer's batch retries once, so the fault
-- shows after 10 s) and then lets go: messages are scored without waiting
-- meanwhile, one line when the wait passes the timeout and one when the lock
-- is released, and no scan record is lost: the waiting ones are written then.
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml
-- conf: database = @TMP@/users.db
-- conf: on_error = tempfail
-- log1: store .*/users\.db: locked by another connection for more than 5000 ms
-- log1: store .*/users\.db: lock released after [0-9.]+ s
-- nolog: write failed|cannot be reopened
dofile(srcdir .. "/../faults/storefault.lua")

local db = tmpdir .. "/users.db"
scored("WARM")
wait_for(5, "WARM: no scan record", function() return scanned(db) == 2 end)

-- An exclusive lock for 13 s.
sh("(echo 'BEGIN EXCLUSIVE; SELECT 1;'; sleep 13; echo 'COMMIT;') | sqlite3 " .. db ..
   " >/dev/null 2>&1 &")
mt.sleep(0.5)
for i = 1, 5 do
	local t = os.time()
	scored("SLOW-" .. i)
	check(os.time() - t <= 3, "SLOW-" .. i .. ": the locked store held up the reply")
end
wait_for(15, "no lock line in the log", function() return logged("locked by another") end)
alive("the lock")
check(scanned(db) == 2, "written through an exclusive lock?")
-- Released: every waiting record is written (2 + 5 messages x 2 recipients).
wait_for(10, "the waiting scan records were not written after the lock went",
         function() return scanned(db) == 12 end)
check(feedback(db) == 12, "feedback after the lock: want 12")
scored("AFTER")
wait_for(5, "AFTER: no scan record", function() return scanned(db) == 14 end)
alive("the faults")
