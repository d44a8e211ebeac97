-- store_replaced_wal: a store restored by moving a backup over the main file
-- alone, under the running milter, while the old file's -wal and -shm stay
-- (issue 18, finding 5: the milter used to log "replaced ...; reopened" and
-- write on, reading the old log's pages into the new file: a corrupt store).
-- Now the milter refuses to open the new file while that -wal is there, says
-- so once, leaves the new file untouched, and writes to it once the stale log
-- is gone; and `spamshift store restore` under the running milter restores
-- in place with no fault at all.
-- setup: "$CLI" learn --db "$TMP/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml
-- setup: printf '#!/bin/sh\nexec %s "$@"\n' "$CLI" >"$TMP/cli" && chmod +x "$TMP/cli"
-- conf: database = @TMP@/users.db
-- conf: on_error = tempfail
-- log1: store .*/users\.db: replaced under the running milter, but .*users\.db-wal of the old file is still there: not opening it
-- log1: store .*/users\.db: writable again after [0-9.]+ s
-- nolog: locked by another|write failed|writing to the new file
dofile(srcdir .. "/../faults/storefault.lua")

local db = tmpdir .. "/users.db"
local cli = tmpdir .. "/cli"
scored("WARM")
wait_for(5, "WARM: no scan record", function() return scanned(db) == 2 end)
sh(cli .. " store backup --db " .. db .. " " .. tmpdir .. "/backup.db")
sh(cli .. " learn --db " .. db .. " --user dave@example.org --spam " .. srcdir ..
   "/../data/corpus/spam >/dev/null")
scored("MORE")
wait_for(5, "MORE: no scan record", function() return scanned(db) == 4 end)

-- The wrong way: the main file alone moved in place.
local wal_before = out("stat -c %i " .. db .. "-wal")
sh("cp " .. tmpdir .. "/backup.db " .. db .. ".new && mv " .. db .. ".new " .. db)
local sum = out("sha256sum < " .. db)
for i = 1, 3 do
	scored("STALE-" .. i)
	mt.sleep(0.5)
end
wait_for(5, "no line about the stale write-ahead log",
         function() return logged("of the old file is still there") end)
check(out("stat -c %i " .. db .. "-wal") == wal_before, "the old -wal was replaced")
check(out("sha256sum < " .. db) == sum, "the milter wrote to the new file through the old log")
alive("the stale log")

-- What the message says to do: the stale log removed, the milter takes the
-- new file by itself.
sh("rm -f " .. db .. "-wal " .. db .. "-shm")
mt.sleep(1.2)
scored("AFTER")
wait_for(5, "AFTER: no scan record in the restored store",
         function() return scanned(db) >= 4 end)
check(feedback(db) == 12, "feedback in the restored store: got " .. feedback(db) .. ", want 12")
sh(cli .. " store check --db " .. db .. " >/dev/null")

-- The right way, under the running milter: in place, no fault, no reopen.
sh(cli .. " learn --db " .. db .. " --user erin@example.org --spam " .. srcdir ..
   "/../data/corpus/spam >/dev/null")
check(feedback(db) == 24, "feedback before the restore: got " .. feedback(db) .. ", want 24")
sh(cli .. " store restore --db " .. db .. " " .. tmpdir .. "/backup.db >/dev/null")
check(feedback(db) == 12, "feedback after store restore: got " .. feedback(db) .. ", want 12")
local n = scanned(db)
scored("RESTORED")
wait_for(5, "RESTORED: no scan record", function() return scanned(db) >= n + 2 end)
sh(cli .. " store check --db " .. db .. " >/dev/null")
alive("the restores")
