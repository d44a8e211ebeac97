-- store_full: the store's file system fills up (SQLITE_FULL) under the running
-- milter: one clear line, messages scored meanwhile, the writer gives the
-- write-ahead log's disk back (a TRUNCATE checkpoint: the log used to keep its
-- high-water size, so a WAL that had filled a small file system stayed there),
-- a learn at that moment either fails with an error or is stored (never
-- acknowledged and lost), learned feedback is kept, and once space is freed
-- the scan records of later messages are written and learn works again.  The
-- store lives on a 2 MB tmpfs mounted for the test.
-- requires: root
-- setup: mkdir "$TMP/small" && mount -t tmpfs -o size=2m tmpfs "$TMP/small"
-- setup: "$CLI" learn --db "$TMP/small/users.db" --user carol@example.org --ham "$DATA"/spam/*.eml
-- setup: printf '#!/bin/sh\nexec %s "$@"\n' "$CLI" >"$TMP/cli" && chmod +x "$TMP/cli"
-- cleanup: umount -l "$TMP/small"
-- conf: database = @TMP@/small/users.db
-- conf: on_error = tempfail
-- log1: store .*/small/users\.db: write failed: .*(full|No space)
-- log1: store .*/small/users\.db: writable again after [0-9.]+ s
dofile(srcdir .. "/../faults/storefault.lua")

local db = tmpdir .. "/small/users.db"
local cli = tmpdir .. "/cli"
scored("WARM")
wait_for(5, "WARM: no scan record", function() return scanned(db) == 2 end)
check(feedback(db) == 12, "feedback before the fault: want 12")

-- Fill the file system (dd stops at ENOSPC).
os.execute("dd if=/dev/zero of=" .. tmpdir .. "/small/fill bs=4096 2>/dev/null")
for i = 1, 5 do
	scored("FULL-" .. i)
end
wait_for(5, "no disk-full line in the log",
         function() return logged("write failed: .*full") end)
alive("the full store")
local wal = tonumber(out("stat -c %s " .. db .. "-wal 2>/dev/null || echo 0"))
check(wal == 0, "the write-ahead log kept " .. wal .. " bytes of the full file system")
local rc = os.execute(cli .. " learn --db " .. db .. " --user dave@example.org --spam " ..
                      datadir .. "/spam/0*.eml >/dev/null 2>" .. tmpdir .. "/learn.err")
if rc == true or rc == 0 then
	check(feedback(db) == 22, "learn into the full store was acknowledged, but the store " ..
	      "holds " .. feedback(db) .. " rows, want 12 + 10")
end

-- Space again: the writer reopens within a second and writes.
sh("rm -f " .. tmpdir .. "/small/fill")
mt.sleep(1.2)
scored("AFTER-1")
wait_for(5, "AFTER-1: no scan record after space came back",
         function() return scanned(db) >= 4 end)
sh(cli .. " learn --db " .. db .. " --user dave@example.org --spam " .. datadir ..
   "/spam/0*.eml >/dev/null")
check(feedback(db) == 22, "feedback after the fault: got " .. feedback(db) .. ", want 12 + 10")
scored("AFTER-2")
wait_for(5, "AFTER-2: no scan record", function() return scanned(db) >= 6 end)
alive("the faults")
