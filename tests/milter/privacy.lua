-- privacy (issue 18, finding 1): the MTA gives every copy of a message the
-- headers the milter adds once, so no header may name a recipient or carry a
-- recipient's own verdict.  Every copy named every recipient, Bcc included
-- ("X-Spamshift-Result: carol@example.org; score=...; verdict=ham" in bob's),
-- one header each: 1,000 for 1,000 recipients.
-- Here carol has a threshold of her own (0.999: her verdict for the spam probe
-- is ham, bob's and dave's tag) and dave stands for a Bcc recipient.  No added
-- header holds any recipient's address or carol's "ham", and the headers are
-- exactly those of the same message to bob alone: bob cannot even tell that
-- there were others.  Then 300 recipients: one X-Spamshift-Result, and one
-- short log line per recipient (a log line is cut at 2,048 bytes, so the old
-- one line for all lost the verdict from about 25 recipients on); a 1,012-byte
-- address is logged cut to 320 bytes, its score and verdict kept.
-- setup: "$CLI" user --db "$TMP/users.db" --user carol@example.org --spam-threshold 0.999
-- conf: database = @TMP@/users.db
-- conf: spam_threshold = @MID@
-- log1: PRIV: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
-- log1: PRIV: rcpt=carol@example.org user=carol@example.org score=[0-9.]+ verdict=ham$
-- log1: PRIV: rcpt=dave@example.org user=dave@example.org score=[0-9.]+ verdict=tag$
-- log1: PRIV: rcpts=3 size=[0-9]+ verdict=tag model=
-- log1: MANY: rcpt=user1@example.org user=user1@example.org score=[0-9.]+ verdict=tag$
-- log1: MANY: rcpt=user300@example.org user=user300@example.org score=[0-9.]+ verdict=tag$
-- log1: MANY: rcpts=300 size=[0-9]+ verdict=tag model=[0-9a-f]+ scan_ms=[0-9.]+ elapsed_ms=[0-9.]+$
-- log1: LONG: rcpt=x{320} user=x{320} score=[0-9.]+ verdict=tag$
-- log1: LONG: rcpt=bob@example.org user=bob@example.org score=[0-9.]+ verdict=tag$
dofile(srcdir .. "/common.lua")

-- Every header the milter may add, each instance.
local names = { "X-Spam-Flag", "X-Spam-Score", "X-Spam-Status", "X-Spamshift-Result",
                "X-Spamshift-Scan", "Subject" }
local function added(conn)
	local got = {}
	for _, name in ipairs(names) do
		local k = 0
		while true do
			local v = mt.getheader(conn, name, k)
			if v == nil then
				break
			end
			table.insert(got, name .. ": " .. v)
			k = k + 1
		end
	end
	return got
end

-- The maintenance thread reads the per-user thresholds at start.
mt.sleep(1.5)

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "ALONE" })
check(reply == SMFIR_ACCEPT, "alone: want ACCEPT")
local alone = added(conn)
mt.disconnect(conn)

conn, reply = spam_to({ "<bob@example.org>", "<carol@example.org>", "<dave@example.org>" },
                      { qid = "PRIV" })
check(reply == SMFIR_ACCEPT, "three recipients: want ACCEPT")
local shared = added(conn)
mt.disconnect(conn)
for _, h in ipairs(shared) do
	mt.echo("added: " .. h)
	check(not h:find("@", 1, true) and not h:find("bob", 1, true)
	      and not h:find("carol", 1, true) and not h:find("dave", 1, true),
	      "a header names a recipient: " .. h)
	check(not h:find("ham", 1, true), "a header carries carol's own verdict: " .. h)
end
check(#shared == #alone, string.format("got %d headers, want %d as for bob alone",
                                       #shared, #alone))
for i = 1, #alone do
	check(shared[i] == alone[i], string.format("header %d: got \"%s\", want \"%s\" as for bob alone",
	                                           i, shared[i], alone[i]))
end

local many = {}
for i = 1, 300 do
	many[i] = "<user" .. i .. "@example.org>"
end
conn, reply = spam_to(many, { qid = "MANY" })
check(reply == SMFIR_ACCEPT, "300 recipients: want ACCEPT")
expect_header(conn, "X-Spamshift-Result", "score=" .. score_spam .. "; verdict=tag")
check(mt.getheader(conn, "X-Spamshift-Result", 1) == nil,
      "300 recipients: got several X-Spamshift-Result headers, want one")
mt.disconnect(conn)

-- (miltertest refuses much longer arguments.)
local long = string.rep("x", 1000) .. "@example.org"
conn, reply = spam_to({ "<" .. long .. ">", "<bob@example.org>" }, { qid = "LONG" })
check(reply == SMFIR_ACCEPT, "long address: want ACCEPT")
mt.disconnect(conn)
