-- trusted_networks: clients inside a listed network (IPv4 CIDR here; IPv6 and
-- the v4-mapped form are unit-tested) are not scanned and pass untouched;
-- others are.
-- conf: trusted_networks = 198.51.100.0/24, 2001:db8::/32
-- conf: spam_threshold = @MID@
-- log: TRUSTED: .*verdict=skipped \(trusted network 198.51.100.7\)
-- log: OUTSIDE: .*verdict=tag
dofile(srcdir .. "/common.lua")

local conn, reply = spam_to({ "<bob@example.org>" }, { qid = "TRUSTED", ip = "198.51.100.7" })
check(reply == SMFIR_ACCEPT, "trusted: got " .. tostring(reply) .. ", want ACCEPT")
expect_header(conn, "X-Spam-Score", nil)
expect_header(conn, "X-Spam-Flag", nil)
mt.disconnect(conn)

conn, reply = spam_to({ "<bob@example.org>" }, { qid = "OUTSIDE", ip = "198.51.101.7" })
check(reply == SMFIR_ACCEPT, "want ACCEPT")
expect_header(conn, "X-Spam-Flag", "YES")
mt.disconnect(conn)
