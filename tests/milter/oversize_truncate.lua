-- oversize = truncate: a message larger than max_message_size is scanned on
-- its first bytes, and a header says so.
-- conf: max_message_size = 4k
-- conf: oversize = truncate
-- conf: spam_threshold = @MID@
-- log: BIG: .*size=[0-9]+ truncated .*verdict=
dofile(srcdir .. "/common.lua")

local filler = string.rep("filler line of an oversized message body 0123456789\r\n", 2000)
local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "BIG", extra_body = filler })
check(reply == SMFIR_ACCEPT, "want ACCEPT")
local scan = mt.getheader(conn, "X-Spamshift-Scan", 0)
check(scan ~= nil and scan == "truncated, message larger than 4096 bytes",
      "X-Spamshift-Scan: got \"" .. tostring(scan) .. "\", want \"truncated, message larger than 4096 bytes\"")
check(mt.getheader(conn, "X-Spam-Score", 0) ~= nil, "a truncated message is still scored")
mt.disconnect(conn)

-- A message under the limit gets no scan header.
conn, reply = spam_to({ "<bob@example.org>" }, { qid = "SMALL" })
expect_header(conn, "X-Spamshift-Scan", nil)
expect_header(conn, "X-Spam-Score", score_spam)
mt.disconnect(conn)
