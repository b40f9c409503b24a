#!/usr/bin/env bash
# Generates the secrets docker-compose.yml reads, in deploy/secrets/ (ignored by
# git): random database password, S3 key pair, bootstrap admin token, Garage's
# RPC secret and admin token, and a self-signed TLS certificate for localhost
# (replace tls.pem and tls.key with your CA's for anything beyond a trial).
#
#   scripts/compose-secrets.sh            # once, before `docker compose up`
#   scripts/compose-secrets.sh --force    # replace them (a new database password
#                                         # needs a new database volume too)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=deploy/secrets
if [ -e "$dir" ] && [ "${1:-}" != "--force" ]; then
  echo "$dir exists; pass --force to replace its secrets" >&2
  exit 1
fi
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
rnd() { openssl rand -hex "$1"; }
db_password=$(rnd 24)
access_key="GK$(rnd 12)"
secret_key=$(rnd 32)
printf '%s\n' "$db_password" >"$dir/db_password"
printf 'postgres://signet:%s@postgres:5432/signet\n' "$db_password" >"$dir/database_url"
printf '%s\n' "$access_key" >"$dir/s3_access_key_id"
printf '%s\n' "$secret_key" >"$dir/s3_secret_access_key"
printf 'sgn_%s\n' "$(rnd 24)" >"$dir/bootstrap_token"
cat >"$dir/garage.env" <<ENV
GARAGE_RPC_SECRET=$(rnd 32)
GARAGE_ADMIN_TOKEN=$(rnd 24)
GARAGE_DEFAULT_ACCESS_KEY=$access_key
GARAGE_DEFAULT_SECRET_KEY=$secret_key
ENV
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$dir/tls.key" -out "$dir/tls.pem" 2>/dev/null
# The containers read these as users other than yours (postgres, uid 10001):
# the files are readable, the directory that holds them is yours alone.
chmod 644 "$dir"/db_password "$dir"/database_url "$dir"/s3_access_key_id \
  "$dir"/s3_secret_access_key "$dir"/bootstrap_token "$dir"/tls.key "$dir"/tls.pem
echo "secrets written to $dir; the bootstrap admin token is in $dir/bootstrap_token"
