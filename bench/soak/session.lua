-- session.lua - one soak client (bench/soak/run.sh starts -s of them): until
-- the deadline, one connection per message, the test messages of
-- tests/milter/data in turn to a few of the users, each message checked for a
-- reply (ACCEPT, or a 451 if on_error says so).  Prints "session ID sent N
-- answered M" at the end; a message without an answer ends the session with
-- "LOST" (run.sh counts both).
-- Globals from miltertest -D: socket, datadir, srcdir, deadline, id, pause
-- (seconds between messages).
dofile(srcdir .. "/common.lua")

local files = {}
for i = 0, 11 do
	table.insert(files, string.format("%s/ham/%02d.eml", datadir, i))
	table.insert(files, string.format("%s/spam/%02d.eml", datadir, i))
end
local sent, answered, k = 0, 0, tonumber(id)
local stop = tonumber(deadline)
while os.time() < stop do
	k = k + 1
	local f = files[(k % #files) + 1]
	local u1 = string.format("<user%02d@example.org>", k % 20)
	local u2 = string.format("<user%02d@example.org>", (k * 7 + 3) % 20)
	local qid = string.format("S%02dM%d", tonumber(id), k)
	sent = sent + 1
	local ok, err = pcall(function()
		local conn = connect()
		begin_message(conn, { qid = qid, rcpts = { u1, u2 } })
		send_content(conn, f)
		local reply = finish(conn)
		check(reply == SMFIR_ACCEPT or reply == SMFIR_REPLYCODE,
		      qid .. ": got " .. tostring(reply))
		mt.disconnect(conn)
	end)
	if not ok then
		mt.echo(string.format("LOST %s: %s", qid, tostring(err)))
	else
		answered = answered + 1
	end
	mt.sleep(tonumber(pause))
end
mt.echo(string.format("session %s sent %d answered %d", id, sent, answered))
