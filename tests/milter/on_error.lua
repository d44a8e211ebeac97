-- on_error = tempfail: an internal failure defers the message with 451 4.3.0
-- instead of losing or passing it.  The failure is real: an MTA that did not
-- grant header changes (SMFIF_CHGHDRS) makes the removal of a forged
-- X-Spam-Flag fail.
-- conf: on_error = tempfail
-- log: FAILING: internal error: the MTA refused a header change or reply; message deferred
dofile(srcdir .. "/common.lua")

local conn, reply = ham_to({ "<bob@example.org>" }, { qid = "FAILING",
	actions = SMFIF_ADDHDRS, headers = { { "X-Spam-Flag", "YES" } } })
check(reply == SMFIR_REPLYCODE, "got " .. tostring(reply) .. ", want a 451 reply")
check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0",
                   "Temporary spam filter failure, try again later"), "want 451 4.3.0")
mt.disconnect(conn)
