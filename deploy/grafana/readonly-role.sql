-- A read-only PostgreSQL role for Grafana (docs/grafana.md).
--
-- Run once per database by a role that may create roles, with psql:
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 \
--     -v reader=grafana_reader -v reader_password="$TELEHUB_GRAFANA_PG_PASSWORD" \
--     -v owner=qs -f deploy/grafana/readonly-role.sql
--
-- reader: the role to create (or update); reader_password: its password;
-- owner: the role telehub connects as, which creates telehub's tables.
-- Safe to run again (it updates the password and re-grants).
--
-- Why a file and not a migration: roles belong to the whole server, not to
-- one database; on managed PostgreSQL (RDS, Cloud SQL, Azure) telehub's own
-- user usually lacks CREATEROLE; and a migration would have to carry a
-- password. The grants below cover tables telehub creates later too
-- (ALTER DEFAULT PRIVILEGES), so this can run before telehub's first start,
-- as the compose file does from the PostgreSQL container's init scripts.

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'reader', :'reader_password')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'reader') \gexec
ALTER ROLE :"reader" WITH LOGIN PASSWORD :'reader_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;

-- Every session of the role is read-only, and a runaway dashboard query is
-- cut off instead of loading the database for ever.
ALTER ROLE :"reader" SET default_transaction_read_only = on;
ALTER ROLE :"reader" SET statement_timeout = '30s';

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reader') \gexec
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
-- api_tokens holds API token hashes: nothing a dashboard needs. It exists
-- only after telehub's first start; run this file again after it to take
-- the grant that the default privileges gave.
SELECT format('REVOKE ALL ON TABLE public.api_tokens FROM %I', :'reader')
  WHERE to_regclass('public.api_tokens') IS NOT NULL \gexec
