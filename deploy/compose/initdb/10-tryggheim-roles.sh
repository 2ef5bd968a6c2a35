#!/bin/sh
# The two roles of docs/operations.md, "Database roles", created once on an empty data volume by the image's
# entrypoint. Passwords come from the compose secrets; they never appear on a command line.
set -eu
owner_password=$(cat /run/secrets/db_owner_password)
app_password=$(cat /run/secrets/db_app_password)
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
	--set owner_password="$owner_password" --set app_password="$app_password" <<'SQL'
CREATE ROLE tryggheim_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE tryggheim_app LOGIN PASSWORD :'app_password';
CREATE DATABASE tryggheim OWNER tryggheim_owner;
\c tryggheim
ALTER SCHEMA public OWNER TO tryggheim_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
