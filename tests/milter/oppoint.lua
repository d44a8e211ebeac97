-- The per-user operating point in the milter (issue 16, item 1): with
-- spam_threshold = model (the default) each recipient is judged at its own
-- threshold.  Three users on one store:
--   alice  target_fpr 0.1 (spamshift user --target-fpr) and 240 unlabelled
--          messages (classify --observe), refitted: her head blob carries the
--          threshold adapt/oppoint.c estimated from them (source unlabelled,
--          above the model's);
--   carol  spamshift user --spam-threshold 0.05 (source override);
--   bob    nothing: the model's threshold.
-- Quarantine and reject stay absolute (doc/operator.md, "The threshold"):
-- carol's low threshold does not lower them, and alice's threshold, above
-- quarantine_threshold, raises her quarantine threshold to it.  The messages
-- are chosen here from what `spamshift classify --user --json` says of the
-- grey mail (tests/milter/greymail.sh), so that each sits between the
-- thresholds it has to tell apart; each is sent to each user alone and then
-- to several at once (multi_recipient = protect: tag when any recipient's
-- verdict is tag or worse, quarantine or reject only when every one's is).
-- Every logged recipient line must carry the score classify --user prints and
-- the verdict that score has at that user's threshold, which classify --json
-- and explain --user both print, and which X-Spam-Status shows for a single
-- recipient.
-- setup: sh "$DATA/../greymail.sh" "$DATA" "$TMP/grey" 240
-- setup: "$CLI" user --db "$TMP/users.db" --user alice@example.org --target-fpr 0.1
-- setup: "$CLI" classify -m "$MODEL" --db "$TMP/users.db" --user alice@example.org --observe "$TMP"/grey/*.eml
-- setup: "$CLI" adapt -m "$MODEL" --db "$TMP/users.db" --user alice@example.org
-- setup: "$CLI" user --db "$TMP/users.db" --user carol@example.org --spam-threshold 0.05
-- conf: database = @TMP@/users.db
-- conf: multi_recipient = protect
-- conf: quarantine_threshold = 0.6
-- conf: reject_threshold = 0.95
-- log: per-user thresholds: 1 user
dofile(srcdir .. "/common.lua")

local Q, R = 0.6, 0.95
local users = { "alice@example.org", "bob@example.org", "carol@example.org" }
local rank = { ham = 0, tag = 1, quarantine = 2, reject = 3 }
local db = tmpdir .. "/users.db"
local model = tmpdir .. "/model.bin"

-- What the CLI says of user's mail: path -> { score = "0.123456", thr = n,
-- src = "model" }, from classify --user --json over files.
local function classify_json(user, files)
	local p = assert(io.popen(cli .. " classify --json -m " .. model .. " --db " .. db ..
		" --user " .. user .. " " .. files .. " 2>&1"))
	local out = {}
	for line in p:lines() do
		local path = line:match('"path":"([^"]+)"')
		check(path ~= nil, "classify --json: unexpected line: " .. line)
		out[path] = {
			score = line:match('"score":([0-9.]+)'),
			spam = line:match('"verdict":"(%a+)"') == "spam",
			thr = tonumber(line:match('"threshold":([0-9.]+)')),
			src = line:match('"threshold_source":"(%a+)"'),
		}
	end
	p:close()
	return out
end

-- explain --user's threshold line: threshold (a number) and its source.
local function explain_threshold(user, file)
	local p = assert(io.popen(cli .. " explain -m " .. model .. " --db " .. db ..
		" --user " .. user .. " " .. file .. " 2>&1"))
	local text = p:read("*a")
	p:close()
	local thr, u, src = text:match("\nthreshold ([0-9.]+) for user (%S+) from (%a+)")
	check(thr ~= nil, "explain --user " .. user .. ": no threshold line in:\n" .. text)
	check(u == user, "explain: got user " .. tostring(u) .. ", want " .. user)
	local score, word = text:match("^[^\n]*: score ([0-9.]+) %((%a+) at threshold")
	return tonumber(thr), src, score, word
end

-- The milter's verdict for score s at spam threshold thr (quarantine and reject
-- absolute, never below thr: doc/operator.md).
local function want_verdict(s, thr)
	s = tonumber(s)
	if s >= math.max(R, thr) then return "reject" end
	if s >= math.max(Q, thr) then return "quarantine" end
	if s >= thr then return "tag" end
	return "ham"
end

-- ---- what the CLI says, before any mail is sent ----
local grey = {}
for i = 0, 239 do grey[i + 1] = tmpdir .. "/grey/g" .. i .. ".eml" end
local probe = datadir .. "/probe-spam.eml"
local files = table.concat(grey, " ") .. " " .. probe
local cl, thr, src = {}, {}, {}
for _, u in ipairs(users) do
	cl[u] = classify_json(u, files)
	thr[u], src[u] = cl[u][probe].thr, cl[u][probe].src
	local ethr, esrc = explain_threshold(u, probe)
	check(ethr == thr[u] and esrc == src[u], string.format(
		"%s: explain says threshold %s from %s, classify --json %s from %s",
		u, ethr, esrc, thr[u], src[u]))
	mt.echo(string.format("%s: threshold %.6f from %s", u, thr[u], src[u]))
end
check(src["alice@example.org"] == "unlabelled", "alice's threshold: got source " ..
      tostring(src["alice@example.org"]) .. ", want unlabelled (published by her refit)")
check(src["bob@example.org"] == "model", "bob: got source " .. tostring(src["bob@example.org"]))
check(src["carol@example.org"] == "override", "carol: got source " ..
      tostring(src["carol@example.org"]))
check(math.abs(thr["carol@example.org"] - 0.05) < 1e-6, "carol's threshold: got " ..
      thr["carol@example.org"] .. ", want 0.05")
-- Else the messages below cannot tell the rules apart.
local A, B, C = thr["alice@example.org"], thr["bob@example.org"], thr["carol@example.org"]
check(C < B and B < Q and Q < A and A < R, string.format(
	"want carol %.4f < bob %.4f < quarantine %.2f < alice %.4f < reject %.2f", C, B, Q, A, R))

-- A grey message whose scores (s[user] = number) satisfy ok(s), or fail.
local function pick(what, ok)
	for _, f in ipairs(grey) do
		local s = {}
		for _, u in ipairs(users) do s[u] = tonumber(cl[u][f].score) end
		if ok(s) then
			mt.echo(string.format("%s: %s (alice %.6f, bob %.6f, carol %.6f)", what,
			        f:match("[^/]+$"), s["alice@example.org"], s["bob@example.org"],
			        s["carol@example.org"]))
			return f
		end
	end
	check(false, "no grey message for " .. what)
end
local al, bo, ca = "alice@example.org", "bob@example.org", "carol@example.org"
local msgs = {
	-- carol tagged far above her threshold, and still below quarantine: her
	-- quarantine threshold did not move down with her spam threshold
	-- (relative to it, it would be Q - (B - C)).
	LOW = pick("tag for carol only", function(s)
		return s[ca] >= Q - (B - C) and s[ca] < B and s[bo] < B and s[al] < A end),
	-- bob tags, alice (above the model's threshold) does not.
	MID = pick("tag for bob, ham for alice", function(s)
		return s[bo] >= B and s[bo] < Q and s[al] < A end),
	-- quarantine for bob (and carol), ham for alice: at or above
	-- quarantine_threshold but below her spam threshold.
	HIGH = pick("quarantine for bob, ham for alice", function(s)
		return s[bo] >= Q and s[bo] < R and s[ca] >= Q and s[ca] < R
			and s[al] >= Q and s[al] < A end),
	-- quarantine for all: alice's quarantine threshold is her spam threshold,
	-- not Q shifted up by (A - B).
	TOP = pick("quarantine for everyone", function(s)
		return s[al] >= A and s[al] < math.min(R, Q + (A - B)) and s[bo] < R and s[ca] < R end),
	PROBE = probe,
}
for _, u in ipairs(users) do
	check(tonumber(cl[u][probe].score) >= R, u .. ": the spam probe scores " ..
	      cl[u][probe].score .. ", want >= reject_threshold " .. R)
end

-- ---- the milter ----
local function send_file(file, rcpts, qid)
	local conn = connect()
	local wrapped = {}
	for i, r in ipairs(rcpts) do wrapped[i] = "<" .. r .. ">" end
	begin_message(conn, { rcpts = wrapped, qid = qid })
	send_content(conn, file)
	return conn, finish(conn)
end

local function message_verdict(qid)
	return milter_log():match(" " .. qid:gsub("%p", "%%%0") .. ": rcpts=%d+ [^\n]-verdict=(%a+)")
end

-- The milter loads alice's model and operating points in its maintenance
-- thread when it first sees her: send warm-up mail until her line shows her
-- model (bounded polling).
local w = 0
wait_until(function()
	w = w + 1
	local qid = "WARM-" .. w
	local conn = send_file(grey[1], { al }, qid)
	mt.disconnect(conn)
	local line = milter_log():match(" " .. qid:gsub("%p", "%%%0") .. ": rcpt=alice@example%.org [^\n]*")
	return line ~= nil and line:find("user_model=", 1, true) ~= nil
end, "alice's model in the milter", 100)

-- Check recipient u's logged line of qid against the CLI; returns its verdict.
local function check_rcpt(qid, u, file)
	local score, verdict = logged_result(qid, u)
	check(score ~= nil, qid .. ": no log line for " .. u)
	local want = cl[u][file]
	check(score == want.score, string.format("%s %s: the milter's score %s, classify --user's %s",
	      qid, u, score, want.score))
	local v = want_verdict(score, thr[u])
	check(verdict == v, string.format("%s %s: score %s at threshold %.6f: got verdict %s, want %s",
	      qid, u, score, thr[u], verdict, v))
	check((rank[verdict] >= rank.tag) == want.spam, string.format(
	      "%s %s: the milter's verdict %s, classify --user's %s", qid, u, verdict,
	      want.spam and "spam" or "ham"))
	local _, _, escore, eword = explain_threshold(u, file)
	check(escore == score and (eword == "spam") == want.spam, string.format(
	      "%s %s: explain says %s (%s), the milter %s (%s)", qid, u, tostring(escore),
	      tostring(eword), score, verdict))
	return verdict
end

local replies = { ham = SMFIR_ACCEPT, tag = SMFIR_ACCEPT, quarantine = SMFIR_ACCEPT,
                  reject = SMFIR_REPLYCODE }
local function check_reply(conn, qid, reply, v)
	check(reply == replies[v], qid .. ": got reply " .. tostring(reply) .. " for verdict " .. v)
	if v == "reject" then return end
	check(mt.eom_check(conn, MT_QUARANTINE) == (v == "quarantine"),
	      qid .. ": quarantine request " .. tostring(mt.eom_check(conn, MT_QUARANTINE)) ..
	      " for verdict " .. v)
	expect_header(conn, "X-Spam-Flag", rank[v] >= rank.tag and "YES" or nil)
end

-- Each message to each user alone: that user's verdict, and X-Spam-Status
-- shows that user's threshold.
local own = {}
for _, name in ipairs({ "LOW", "MID", "HIGH", "TOP", "PROBE" }) do
	own[name] = {}
	for _, u in ipairs(users) do
		local qid = name .. "-" .. u:match("^%a+")
		local conn, reply = send_file(msgs[name], { u }, qid)
		local v = check_rcpt(qid, u, msgs[name])
		own[name][u] = v
		check(message_verdict(qid) == v, qid .. ": message verdict " ..
		      tostring(message_verdict(qid)) .. ", want the recipient's " .. v)
		check_reply(conn, qid, reply, v)
		if v ~= "reject" then
			expect_header(conn, "X-Spam-Status", status_value(rank[v] >= rank.tag and "Yes" or "No",
			              cl[u][msgs[name]].score, string.format("%.6f", thr[u])))
		end
		mt.disconnect(conn)
	end
end
-- What the chosen messages were chosen to show.
local function want_own(name, a, b, c)
	local got = own[name]
	check(got[al] == a and got[bo] == b and got[ca] == c, string.format(
	      "%s: alice %s bob %s carol %s, want %s %s %s", name, got[al], got[bo], got[ca], a, b, c))
end
want_own("LOW", "ham", "ham", "tag")
want_own("MID", "ham", "tag", "tag")
want_own("HIGH", "ham", "quarantine", "quarantine")
want_own("TOP", "quarantine", "quarantine", "quarantine")
want_own("PROBE", "reject", "reject", "reject")

-- The same messages to several recipients at once: each recipient's line as
-- when alone, the message's verdict by protect.
local function protect(vs)
	local least, most = 3, 0
	for _, v in ipairs(vs) do
		least, most = math.min(least, rank[v]), math.max(most, rank[v])
	end
	if least >= rank.quarantine then
		for v, r in pairs(rank) do if r == least then return v end end
	end
	return most >= rank.tag and "tag" or "ham"
end
local multi = {
	{ "LOW", { al, ca }, "tag" },
	{ "MID", { al, bo }, "tag" },
	{ "HIGH", { al, bo, ca }, "tag" },
	{ "HIGH", { bo, ca }, "quarantine" },
	{ "TOP", { al, bo }, "quarantine" },
	{ "PROBE", { al, bo, ca }, "reject" },
	{ "PROBE", { al, bo }, "reject" },
}
for i, t in ipairs(multi) do
	local name, rcpts, want = t[1], t[2], t[3]
	local qid = "MULTI" .. i .. "-" .. name
	local conn, reply = send_file(msgs[name], rcpts, qid)
	local vs = {}
	for j, u in ipairs(rcpts) do
		vs[j] = check_rcpt(qid, u, msgs[name])
		check(vs[j] == own[name][u], string.format("%s %s: got %s, want %s as when alone",
		      qid, u, vs[j], own[name][u]))
	end
	check(protect(vs) == want, qid .. ": protect of the recipients' verdicts is " ..
	      protect(vs) .. ", want " .. want)
	check(message_verdict(qid) == want, qid .. ": message verdict " ..
	      tostring(message_verdict(qid)) .. ", want " .. want)
	check_reply(conn, qid, reply, want)
	mt.disconnect(conn)
end
