-- scan_records: with a store, every message that reaches end of message leaves
-- exactly one scan record per recipient, skipped ones included (trusted
-- network, authenticated sender, oversize = skip), as `spamshift stats` reads
-- them.  Skipped messages were accepted at MAIL FROM before their recipients
-- were known and left no record at all.
-- conf: database = @TMP@/users.db
-- conf: spam_threshold = @MID@
-- conf: trusted_networks = 198.51.100.0/24
-- conf: max_message_size = 4k
-- conf: oversize = skip
-- log: TRUSTED: from=.* rcpts=1 verdict=skipped \(trusted network 198.51.100.7\)
-- log: AUTH: from=<alice@example.org> rcpts=1 verdict=skipped \(authenticated as alice\)
-- log: BIG: rcpts=1 size=[0-9]+ verdict=unscanned \(oversize\)
dofile(srcdir .. "/common.lua")

-- Each message on its own connection, accepted at end of message.
local function send(fn, rcpts, opts)
	local conn, reply = fn(rcpts, opts)
	check(reply == SMFIR_ACCEPT, opts.qid .. ": got reply " .. tostring(reply) .. ", want ACCEPT")
	mt.disconnect(conn)
end

send(spam_to, { "<bob@example.org>" }, { qid = "S1" })
send(ham_to, { "<bob@example.org>" }, { qid = "H1" })
send(spam_to, { "<bob@example.org>", "<carol@example.org>" }, { qid = "S2" })
send(spam_to, { "<bob@example.org>" }, { qid = "TRUSTED", ip = "198.51.100.7" })
send(spam_to, { "<Carol+lists@example.org>" },
     { qid = "AUTH", auth = "alice", from = "<alice@example.org>" })
local filler = string.rep("filler line of an oversized message body 0123456789\r\n", 2000)
send(spam_to, { "<bob@example.org>" }, { qid = "BIG", extra_body = filler })

-- The writer thread commits within its flush interval (200 ms).
mt.sleep(1.5)
local fh = io.popen(cli .. " stats --db " .. tmpdir .. "/users.db --since all --json 2>&1")
local out = fh:read("*a")
fh:close()

local want = {
	-- user = { scanned, tagged, quarantined, rejected, skipped, errors }
	["bob@example.org"] = { 3, 2, 0, 0, 2, 0 },
	["carol@example.org"] = { 1, 1, 0, 0, 1, 0 },
}
check_stats(out, want, { "scanned", "tagged", "quarantined", "rejected", "skipped", "errors" })
local users = tonumber(out:match('"overview":{"users":(%d+)'))
check(users == 2, "overview users: got " .. tostring(users) .. ", want 2")
