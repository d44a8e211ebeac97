-- store_removed: the store deleted under the running milter (with its -wal and
-- -shm), then restored from a backup (copied aside, moved in place): one line
-- when the writer finds it gone (naming the path and the open error), messages
-- scored meanwhile and nothing written to the deleted file, one line when the
-- restored store takes writes, later scan records written to it, the feedback
-- learned before the backup there.
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml
-- conf: database = @TMP@/users.db
-- conf: on_error = tempfail
-- log1: store .*/users\.db: removed or replaced under the running milter and cannot be reopened: .*No such file
-- log1: store .*/users\.db: writable again after [0-9.]+ s; [0-9]+ writes \(scan records, samples\) were dropped
-- nolog: locked by another|write failed
dofile(srcdir .. "/../faults/storefault.lua")

local db = tmpdir .. "/users.db"
scored("WARM")
wait_for(5, "WARM: no scan record", function() return scanned(db) == 2 end)
sh("sqlite3 " .. db .. " '.backup " .. tmpdir .. "/backup.db'")

sh("rm -f " .. db .. " " .. db .. "-wal " .. db .. "-shm")
for i = 1, 5 do
	scored("GONE-" .. i)
end
wait_for(5, "no line about the removed store",
         function() return logged("removed or replaced under the running milter") end)
alive("the removal")
check(io.open(db, "r") == nil, "the milter recreated the removed store")

-- Restored: copied beside it, moved in place; the writer reopens it within a
-- second.
sh("cp " .. tmpdir .. "/backup.db " .. db .. ".new && mv " .. db .. ".new " .. db)
mt.sleep(1.2)
scored("AFTER-1")
wait_for(5, "AFTER-1: no scan record in the restored store",
         function() return scanned(db) >= 4 end)
scored("AFTER-2")
wait_for(5, "AFTER-2: no scan record", function() return scanned(db) >= 6 end)
check(feedback(db) == 12, "feedback in the restored store: got " .. feedback(db) .. ", want 12")
alive("the faults")
