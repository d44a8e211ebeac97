-- oversize = skip: a message larger than max_message_size passes unscanned,
-- and a header says so.
-- conf: max_message_size = 4k
-- conf: oversize = skip
-- log: BIG: rcpts=1 size=[0-9]+ verdict=unscanned \(oversize\)
dofile(srcdir .. "/common.lua")

local filler = string.rep("filler line of an oversized message body 0123456789\r\n", 2000)
local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "BIG", extra_body = filler })
check(reply == SMFIR_ACCEPT, "want ACCEPT")
local scan = mt.getheader(conn, "X-Spamshift-Scan", 0)
check(scan ~= nil and scan == "skipped, message larger than 4096 bytes",
      "X-Spamshift-Scan: got \"" .. tostring(scan) .. "\", want \"skipped, message larger than 4096 bytes\"")
expect_header(conn, "X-Spam-Score", nil)
expect_header(conn, "X-Spam-Flag", nil)
mt.disconnect(conn)
