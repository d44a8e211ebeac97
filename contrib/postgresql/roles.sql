-- contrib/postgresql/roles.sql - least privilege for a PostgreSQL store
-- (installed as $(pkgdatadir)/postgresql/roles.sql; doc/operator.md,
-- "PostgreSQL: roles and security").
--
-- Three group roles (NOLOGIN), one per job; give each host's login role the
-- one it needs, e.g.
--     CREATE ROLE mx1 LOGIN;  GRANT spamshift_milter TO mx1;
--     CREATE ROLE imap LOGIN; GRANT spamshift_learn TO imap;
--     CREATE ROLE monitor LOGIN; GRANT spamshift_stats TO monitor;
-- Run it as a superuser (postgres), or as the role that owns the store's tables
-- if it has CREATEROLE, after the schema exists
-- (`spamshift store init --db DB`, or any write as the owner), in the store's
-- database:
--     psql -v ON_ERROR_STOP=1 -d spamshift -f roles.sql
-- It may be run again (after an upgrade that adds tables: run it again, as the
-- owner, once the owner has opened the store with the new spamshift).
-- Only the owner creates or upgrades the schema: the roles below have no
-- CREATE on the schema, so a spamshift newer than the store refuses to open it
-- under them (exit 78) until the owner has opened it once.
--
--   spamshift_milter  spamshift-milter: scores with the users' models and
--                     lists, offers each scanned message to its users'
--                     reservoirs, counts and records scans; with
--                     refit_interval > 0 (the default) it refits dirty users
--                     in the background, so it writes heads, refits and the
--                     fit cache too.  Never feedback (a learn), the sender
--                     lists or the settings.
--   spamshift_learn   spamshift learn, adapt, user (thresholds, allow and
--                     block lists), classify --observe: every table's rows;
--                     of the settings (meta) only the two generation counters
--                     that tell the milters a threshold or a list changed
--                     (a row-level policy), never the schema.  store copy,
--                     backup and restore are the owner's.
--   spamshift_stats   spamshift stats, classify and explain --db, store check:
--                     reads only.  A learn under it is refused by the server
--                     (spamshift: "permission denied", exit 77).
-- Every refusal is the server's: spamshift reports it as "permission denied
-- for table T (the role's grants: contrib/postgresql/roles.sql)", exit 77.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spamshift_milter') THEN
        CREATE ROLE spamshift_milter NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spamshift_learn') THEN
        CREATE ROLE spamshift_learn NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spamshift_stats') THEN
        CREATE ROLE spamshift_stats NOLOGIN;
    END IF;
END
$$;

-- Start from nothing, so that running it again also takes back what an older
-- version of this file granted.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM spamshift_milter, spamshift_learn, spamshift_stats;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM spamshift_milter, spamshift_learn, spamshift_stats;
GRANT USAGE ON SCHEMA public TO spamshift_milter, spamshift_learn, spamshift_stats;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO spamshift_milter, spamshift_learn, spamshift_stats',
                   current_database());
END
$$;

-- Reading: every role reads every table (the models, lists and settings are
-- what scoring needs; stats reads them all).
GRANT SELECT ON meta, users, feedback, heads, reservoir, refits, counters, scans,
    scan_days, fitcache, senderlists TO spamshift_milter, spamshift_learn, spamshift_stats;

-- The milter: a new recipient is a new user (users, its id sequence), the
-- reservoir's offers (slots replaced: UPDATE; a shrunk reservoir_size: DELETE),
-- counters, scan records and the day's counters (expiry: DELETE), and the
-- background refits' results.
GRANT INSERT, UPDATE ON users TO spamshift_milter;
GRANT INSERT, UPDATE, DELETE ON reservoir, counters, scans, scan_days, heads, fitcache
    TO spamshift_milter;
GRANT INSERT ON refits TO spamshift_milter;
GRANT USAGE ON SEQUENCE users_id_seq, refits_id_seq TO spamshift_milter;

-- learn, adapt, user: every row of the users' data.
GRANT INSERT, UPDATE, DELETE ON users, feedback, heads, reservoir, refits, counters, scans,
    scan_days, fitcache, senderlists TO spamshift_learn;
GRANT USAGE ON SEQUENCE users_id_seq, refits_id_seq TO spamshift_learn;

-- meta: the store's settings and schema version are the owner's; learn's role
-- may only move thresholds_gen and lists_gen (spamshift user's changes, which
-- the milters watch).  The owner is not bound by these policies.
GRANT INSERT, UPDATE ON meta TO spamshift_learn;
ALTER TABLE meta ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS spamshift_read ON meta;
DROP POLICY IF EXISTS spamshift_gens_insert ON meta;
DROP POLICY IF EXISTS spamshift_gens_update ON meta;
CREATE POLICY spamshift_read ON meta FOR SELECT USING (true);
CREATE POLICY spamshift_gens_insert ON meta FOR INSERT TO spamshift_learn
    WITH CHECK (key IN ('thresholds_gen', 'lists_gen'));
CREATE POLICY spamshift_gens_update ON meta FOR UPDATE TO spamshift_learn
    USING (key IN ('thresholds_gen', 'lists_gen'))
    WITH CHECK (key IN ('thresholds_gen', 'lists_gen'));
