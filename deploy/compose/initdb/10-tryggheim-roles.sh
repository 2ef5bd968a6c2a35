#!/bin/sh
# The two roles of docs/operations.md, "Database roles", created once on an empty data volume by the image's
# entrypoint. psql reads the passwords from the compose secrets itself (backquotes in \set), so they appear on
# no command line.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres <<'SQL'
\set owner_password `cat /run/secrets/db_owner_password`
\set app_password `cat /run/secrets/db_app_password`
CREATE ROLE tryggheim_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE tryggheim_app LOGIN PASSWORD :'app_password';
CREATE DATABASE tryggheim OWNER tryggheim_owner;
\c tryggheim
ALTER SCHEMA public OWNER TO tryggheim_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
