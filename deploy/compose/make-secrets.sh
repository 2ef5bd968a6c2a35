#!/bin/sh
# Writes the secret files compose.yaml reads, with fresh random values and a self-signed certificate for
# TRYGGHEIM_SITE (default localhost). Run once; it refuses to overwrite. Replace the certificate with a real
# one for any use beyond trying it out. Needs openssl.
set -eu
cd "$(dirname "$0")"
site=${TRYGGHEIM_SITE:-localhost}
if [ -e secrets ]; then echo "secrets/ exists; remove it first to make new secrets" >&2; exit 1; fi
umask 077
mkdir secrets
random() { openssl rand -hex 24; }
owner=$(random)
app=$(random)
printf '%s' "$(random)" > secrets/postgres_password
printf '%s' "$owner" > secrets/db_owner_password
printf '%s' "$app" > secrets/db_app_password
printf 'postgresql://tryggheim_owner:%s@db:5432/tryggheim' "$owner" > secrets/database_owner_url
printf 'postgresql://tryggheim_app:%s@db:5432/tryggheim' "$app" > secrets/database_url
printf '%s' "$(random)" > secrets/metrics_token
# A Fernet key: 32 random bytes, URL-safe base64.
openssl rand -base64 32 | tr '+/' '-_' | tr -d '\n' > secrets/secrets_key
openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=$site" -addext "subjectAltName=DNS:$site" \
	-keyout secrets/tls_private_key.pem -out secrets/tls_certificate.pem 2>/dev/null
# Compose mounts these files as they are on the host (it cannot change owners without Swarm), and the services
# run as other users (API uid 10001, postgres 70/999): the files are world-readable inside a folder only
# the owner may enter.
chmod 0644 secrets/*
chmod 0700 secrets
echo "wrote $(ls secrets | wc -l) secret files into $(pwd)/secrets"
