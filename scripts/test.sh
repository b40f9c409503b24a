#!/usr/bin/env bash
# Runs Signet's whole test suite on both backends: SQLite + a local directory, and
# PostgreSQL + a real S3-compatible server (Garage). Starts PostgreSQL when it is
# down (installing it when missing), installs Garage once when missing, runs a
# throwaway Garage for this run only, then `cargo test` with any extra arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# --- PostgreSQL -------------------------------------------------------------
PG_URL=${SIGNET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    # Local test server only: trust connections from this machine.
    sed -i 's/^\(host.*127.0.0.1\/32 *\).*/\1trust/; s/^\(host.*::1\/128 *\).*/\1trust/' \
      "/etc/postgresql/$ver/main/pg_hba.conf"
  fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
fi
for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
pg_isready -h 127.0.0.1 -p 5432
# Each PostgreSQL test creates its own database; drop those of earlier runs.
psql "$PG_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'signet\_t\_%'" |
  while read -r db; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null; done

# --- Garage (S3-compatible) -------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v garage >/dev/null 2>&1; then
  log "installing Garage 2.5.0 (about 10 minutes, once per machine)"
  cargo install garage@2.5.0 --locked
fi
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3_port=$(free_port); rpc_port=$(free_port); admin_port=$(free_port)
cat >"$work/garage.toml" <<TOML
metadata_dir = "$work/meta"
data_dir = "$work/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$(openssl rand -hex 16)"
TOML
access_key="GK$(openssl rand -hex 12)"
secret_key="$(openssl rand -hex 32)"
GARAGE_DEFAULT_ACCESS_KEY=$access_key GARAGE_DEFAULT_SECRET_KEY=$secret_key GARAGE_DEFAULT_BUCKET=signet-test \
  garage -c "$work/garage.toml" server --single-node --default-bucket >"$work/garage.log" 2>&1 &
garage_pid=$!
trap 'kill $garage_pid 2>/dev/null; wait $garage_pid 2>/dev/null; rm -rf "$work"' EXIT
# Up when the S3 API answers (an unsigned request gets an S3 error document).
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break
  sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$s3_port/" || { cat "$work/garage.log"; exit 1; }
log "Garage on 127.0.0.1:$s3_port"

export SIGNET_TEST_POSTGRES_URL=$PG_URL
export SIGNET_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
export SIGNET_TEST_S3_REGION=garage
export SIGNET_TEST_S3_BUCKET=signet-test
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key

cargo test "$@"
