-- flood.lua - bench/milter/learn_load.sh's load: `count` messages, one after
-- the other, each to ten recipients (users u1x<tag>..u10x<tag>), so that the
-- milter's store writer gets twenty operations (an offer and a scan record per
-- recipient) per message and falls behind.  Variables (miltertest -D): socket,
-- datadir, srcdir (tests/milter, for common.lua), tag, count.
dofile(srcdir .. "/common.lua")
local rc = {}
for i = 1, 10 do
	rc[i] = "<u" .. i .. "x" .. tag .. "@example.org>"
end
for k = 1, count do
	local conn = connect()
	begin_message(conn, { rcpts = rc, qid = "F" .. tag .. k })
	send_content(conn, datadir .. "/probe-spam.eml", { { "X-Seq", tag .. "-" .. k } })
	local r = finish(conn)
	check(r == SMFIR_ACCEPT, "reply " .. tostring(r))
	mt.disconnect(conn)
end
