-- failmalloc.lua - the messages of tests/faults/failmalloc_milter.sh, run once
-- per failed allocation: five messages (spam to two users, ham, spam to a new
-- user, spam twice more), each answered per on_error = tempfail: scored
-- (ACCEPT with the score header) or deferred (451 4.3.0), never left without
-- an answer.  The queue ids of deferred messages go to the file `outcome`, for
-- the shell script to check that only one message was hit (one allocation
-- failed) and that the log says why.
dofile(srcdir .. "/common.lua")

local deferred = assert(io.open(outcome, "w"))

local function answered(qid, conn, reply)
	if reply == SMFIR_REPLYCODE then
		deferred:write(qid, "\n")
		check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0",
		                   "Temporary spam filter failure, try again later"),
		      qid .. ": want 451 4.3.0")
	else
		check(reply == SMFIR_ACCEPT, qid .. ": got reply " .. tostring(reply) ..
		      ", want ACCEPT or 451")
		check(mt.getheader(conn, "X-Spam-Score", 0) ~= nil, qid .. ": ACCEPT without a score")
	end
	mt.disconnect(conn)
end

answered("FM-1", spam_to({ "<bob@example.org>", "<carol@example.org>" }, { qid = "FM-1" }))
answered("FM-2", ham_to({ "<carol@example.org>" }, { qid = "FM-2" }))
answered("FM-3", spam_to({ "<dave@example.org>" }, { qid = "FM-3" }))
mt.sleep(0.3)     -- let the writer take a batch (its allocations are in the sweep)
answered("FM-4", spam_to({ "<bob@example.org>" }, { qid = "FM-4" }))
answered("FM-5", spam_to({ "<carol@example.org>" }, { qid = "FM-5" }))
deferred:close()
