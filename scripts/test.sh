#!/usr/bin/env bash
# Runs Signet's whole test suite on both backends: SQLite + a local directory, and
# PostgreSQL + a real S3-compatible server (Garage). Starts PostgreSQL when it is
# down (installing it when missing), installs Garage once when missing (and
# Chromium with ChromeDriver for the console's browser tests, skopeo and the
# oras SDK for the OCI face's, Debian's Go and golang.org/x/mod for the
# transparency log's outside verifier, rsyslog as the audit stream's syslog
# receiver, Standard Webhooks' Python library for the webhook receiver), runs
# a throwaway Garage for this run only, then `cargo test` with any extra
# arguments,
# then the fault script's short form (scripts/faults.sh; SIGNET_FAULTS=0 skips
# it) and the contract conformance run (schemathesis against the OpenAPI
# document, on SQLite and on PostgreSQL; SIGNET_CONFORMANCE=0 skips it); both
# are skipped when arguments filter the tests.
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
source scripts/garage.sh

# --- jq (the README's walk-throughs, run as a test, pipe answers through it) ---
if ! command -v jq >/dev/null 2>&1; then
  log "installing jq"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq jq >/dev/null
fi

# --- Chromium (the console's browser tests) ------------------------------------
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  log "installing chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# A Python virtual environment (Debian's python3 needs python3-venv for it).
make_venv() {
  python3 -m venv "$1" 2>/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$1"
    python3 -m venv "$1"
  }
}

# --- OpenSSF Model Signing (interop tests) -----------------------------------
# model-signing 1.1.1 from PyPI in a virtual environment of its own, made once per
# machine. Its package does not declare pyOpenSSL, which its CLI imports.
oms_venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/model-signing-1.1.1"
if ! "$oms_venv/bin/model_signing" --help >/dev/null 2>&1; then
  log "installing model-signing 1.1.1 into $oms_venv"
  rm -rf "$oms_venv"
  make_venv "$oms_venv"
  "$oms_venv/bin/pip" install --quiet --disable-pip-version-check model-signing==1.1.1 pyOpenSSL
fi
export SIGNET_TEST_MODEL_SIGNING="$oms_venv/bin/model_signing"

# --- Registry clients (the OCI face's interop tests) ---------------------------
# Debian's skopeo, and the oras Python SDK with jsonschema (the ModelPack config
# schema's check) in a virtual environment of their own, made once per machine.
if ! command -v skopeo >/dev/null 2>&1; then
  log "installing skopeo"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq skopeo >/dev/null
fi
export SIGNET_TEST_SKOPEO="$(command -v skopeo)"
oci_venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/oci-clients-oras-0.2.43"
if ! "$oci_venv/bin/python" -c 'import oras.client, jsonschema' >/dev/null 2>&1; then
  log "installing oras 0.2.43 and jsonschema 4.26.0 into $oci_venv"
  rm -rf "$oci_venv"
  make_venv "$oci_venv"
  "$oci_venv/bin/pip" install --quiet --disable-pip-version-check oras==0.2.43 jsonschema==4.26.0
fi
export SIGNET_TEST_OCI_PYTHON="$oci_venv/bin/python"

# --- Go's sumdb/note and sumdb/tlog (the transparency log's outside verifier) ---
# Debian's Go and golang.org/x/mod, so the verifier builds offline.
if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ]; then
  log "installing golang-go and golang-golang-x-mod-dev"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq golang-go golang-golang-x-mod-dev >/dev/null
fi
export SIGNET_TEST_GO="$(command -v go)"

# --- rsyslog (the access log's stream to a SIEM: the syslog receiver) ----------
# With its GnuTLS driver for the TLS receiver.
if [ ! -x /usr/sbin/rsyslogd ] || ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1; then
  log "installing rsyslog and rsyslog-gnutls"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq rsyslog rsyslog-gnutls >/dev/null
fi
export SIGNET_TEST_RSYSLOGD=/usr/sbin/rsyslogd

# --- A webhook receiver (Standard Webhooks' reference library) ------------------
# standardwebhooks 1.3.0 from PyPI in a virtual environment of its own, made once
# per machine: the test receiver checks every delivery's signature with it.
sw_venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/standardwebhooks-1.3.0"
if ! "$sw_venv/bin/python" -c 'import standardwebhooks.webhooks' >/dev/null 2>&1; then
  log "installing standardwebhooks 1.3.0 into $sw_venv"
  rm -rf "$sw_venv"
  make_venv "$sw_venv"
  "$sw_venv/bin/pip" install --quiet --disable-pip-version-check standardwebhooks==1.3.0
fi
export SIGNET_TEST_WEBHOOK_PYTHON="$sw_venv/bin/python"

# --- The CycloneDX project's validator ------------------------------------------
# cyclonedx-python-lib 11.12.0 (with its JSON schema validation) in a virtual
# environment of its own: the tests validate every BOM Signet issues with it.
cdx_venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/cyclonedx-11.12.0"
if ! "$cdx_venv/bin/python" -c 'import cyclonedx.validation.json' >/dev/null 2>&1; then
  log "installing cyclonedx-python-lib 11.12.0 into $cdx_venv"
  rm -rf "$cdx_venv"
  make_venv "$cdx_venv"
  "$cdx_venv/bin/pip" install --quiet --disable-pip-version-check \
    'cyclonedx-python-lib[json-validation]==11.12.0'
fi
export SIGNET_TEST_CYCLONEDX_PYTHON="$cdx_venv/bin/python"

export SIGNET_TEST_POSTGRES_URL=$PG_URL
export SIGNET_TEST_S3_ENDPOINT=$GARAGE_ENDPOINT
export SIGNET_TEST_S3_REGION=$GARAGE_REGION
export SIGNET_TEST_S3_BUCKET=$GARAGE_BUCKET

cargo test "$@"

# --- Contract conformance ---------------------------------------------------
locked=()
filtered=0
for a in "$@"; do
  case "$a" in
    --locked) locked=(--locked) ;;
    *) filtered=1 ;;
  esac
done
# --- Faults (PostgreSQL and S3 stopped, kill -9): the short form ----------------
# Its own PostgreSQL cluster and Garage; SIGNET_FAULTS=0 skips it.
if [ "${SIGNET_FAULTS:-1}" != 0 ] && [ "$filtered" = 0 ]; then
  log "faults: the short form"
  CARGO_LOCKED=${locked[0]:-} scripts/faults.sh 20
fi

if [ "${SIGNET_CONFORMANCE:-1}" != 0 ] && [ "$filtered" = 0 ]; then
  st_venv="${XDG_CACHE_HOME:-$HOME/.cache}/signet/schemathesis-4.32.5"
  if ! "$st_venv/bin/schemathesis" --version >/dev/null 2>&1; then
    log "installing schemathesis 4.32.5 into $st_venv"
    rm -rf "$st_venv"
    make_venv "$st_venv"
    "$st_venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
  fi
  export PATH="$st_venv/bin:$PATH"
  cargo build "${locked[@]}" --bin signet
  signet="${CARGO_TARGET_DIR:-target}/debug/signet"
  log "conformance: SQLite + a local directory"
  python3 scripts/conformance.py "$signet" --examples 30
  db="signet_t_conformance_$$"
  psql "$PG_URL" -qc "CREATE DATABASE $db"
  log "conformance: PostgreSQL + a local directory"
  python3 scripts/conformance.py "$signet" --examples 30 --database "${PG_URL%/*}/$db"
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db"
fi
