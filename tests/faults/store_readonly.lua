-- store_readonly: the store replaced under the running milter by a copy the
-- milter's user cannot write (an admin restoring a backup as root, 0644): one
-- clear line, messages scored meanwhile, learned feedback kept, and when the
-- file is given back to the milter's user its scan records are written again.
-- The milter runs as nobody (user =), so the permissions matter even though
-- the test runs as root.
-- requires: root
-- setup: chmod 755 "$TMP" && mkdir "$TMP/db"
-- setup: "$CLI" learn --db "$TMP/db/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml
-- setup: chown -R nobody:nogroup "$TMP/db"
-- conf: database = @TMP@/db/users.db
-- conf: user = nobody
-- conf: on_error = tempfail
-- log1: store .*/db/users\.db: write failed after it was replaced under the running milter: .*readonly
-- log1: store .*/db/users\.db: writable again after [0-9.]+ s
dofile(srcdir .. "/../faults/storefault.lua")

check(out("ps -o user= -p " .. milter_pid) == "nobody", "the milter does not run as nobody")
local dir = tmpdir .. "/db"
local db = dir .. "/users.db"
scored("WARM")
wait_for(5, "WARM: no scan record", function() return scanned(db) == 2 end)
local fb = feedback(db)
check(fb == 12, "feedback before the fault: got " .. fb .. ", want 12")

-- A root-owned 0644 copy moved in place with its -wal and -shm gone.
sh("sqlite3 " .. db .. " '.backup " .. dir .. "/ro.db' && chmod 644 " .. dir .. "/ro.db" ..
   " && rm -f " .. db .. "-wal " .. db .. "-shm && mv " .. dir .. "/ro.db " .. db)
for i = 1, 5 do
	scored("RO-" .. i)
end
wait_for(5, "no read-only line in the log",
         function() return logged("attempt to write a readonly database") end)
alive("the read-only store")
check(scanned(db) == 2, "the read-only store changed")

-- Given back: the writer reopens it (within a second) and writes again.
sh("chown nobody:nogroup " .. db .. " && chmod 660 " .. db)
mt.sleep(1.2)
scored("AFTER-1")
wait_for(5, "AFTER-1: no scan record after the store came back",
         function() return scanned(db) >= 4 end)
scored("AFTER-2")
wait_for(5, "AFTER-2: no scan record", function() return scanned(db) >= 6 end)
fb = feedback(db)
check(fb == 12, "feedback after the fault: got " .. fb .. ", want 12")
alive("the faults")
