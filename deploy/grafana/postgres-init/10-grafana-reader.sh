#!/bin/sh
# Run by the postgres image on its first start (/docker-entrypoint-initdb.d):
# creates Grafana's read-only role from deploy/grafana/readonly-role.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader="$TELEHUB_GRAFANA_PG_USER" -v reader_password="$TELEHUB_GRAFANA_PG_PASSWORD" -v owner="$POSTGRES_USER" \
  -f /telehub/grafana/readonly-role.sql
