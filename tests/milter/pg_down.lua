-- pg_down.lua - one phase of tests/milter/pg_down.sh (not run by run.sh):
-- `count` messages, each on its own connection, spam and ham in turn to bob
-- and carol, queue ids PHASE-1 .. PHASE-count.  Every one must be answered
-- at end of message with ACCEPT (tagged or clean, scored by the models the
-- milter holds), whether the PostgreSQL server is up or not: with
-- on_error = tempfail in the config, a message that needed the store and did
-- not get it would be TEMPFAIL here.
dofile(srcdir .. "/common.lua")

local n = tonumber(count)
local users = { "<bob@example.org>", "<carol@example.org>" }
for i = 1, n do
	local qid = phase .. "-" .. i
	local fn = (i % 2 == 0) and ham_to or spam_to
	local conn, reply = fn({ users[(i % 2) + 1] }, { qid = qid })
	check(reply == SMFIR_ACCEPT, qid .. ": got reply " .. tostring(reply) .. ", want ACCEPT")
	mt.disconnect(conn)
end
mt.echo(phase .. ": " .. n .. " messages accepted")
