#!/usr/bin/env bash
# Security advisories: Signet's crate graph (Cargo.lock) checked against the
# RustSec advisory database with cargo-deny (deny.toml decides what fails: any
# vulnerability, unsound or unmaintained crate not ignored there with a reason).
#
# Where GitHub answers, the live database is fetched and used. Otherwise the
# snapshot in ../shared/advisory-db (or SIGNET_ADVISORY_DB) is copied into a git
# repository whose one commit carries the snapshot's own date (cargo-deny dates
# the database by its HEAD commit), and the check runs offline against it.
#
#   scripts/advisories.sh              check Signet
#   scripts/advisories.sh --self-test  check Signet, then prove the check can
#                                      fail: a lock file pinning smallvec 1.6.0
#                                      (RUSTSEC-2021-0003) must be refused
#   SIGNET_ADVISORIES=snapshot ...     use the snapshot even where GitHub answers
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

self_test=0
for a in "$@"; do
  case "$a" in
    --self-test) self_test=1 ;;
    *) echo "usage: scripts/advisories.sh [--self-test]" >&2; exit 2 ;;
  esac
done

work="${CARGO_TARGET_DIR:-target}/advisories"
mkdir -p "$work"
work=$(cd "$work" && pwd)

# The deny.toml to check with: the committed one, pointed at a database
# directory of this script's own when the snapshot is used.
config=deny.toml
offline=()
if [ "${SIGNET_ADVISORIES:-}" != snapshot ] &&
  timeout 20 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  # The check fetches the database itself.
  log "advisories: the live RustSec database (GitHub answers)"
else
  snapshot="${SIGNET_ADVISORY_DB:-../shared/advisory-db}"
  if [ ! -f "$snapshot/SNAPSHOT" ]; then
    echo "advisories: GitHub does not answer and there is no snapshot at $snapshot (SIGNET_ADVISORY_DB names another)" >&2
    exit 1
  fi
  commit=$(sed -n 's/^commit: *//p' "$snapshot/SNAPSHOT")
  date=$(sed -n 's/^commit date: *//p' "$snapshot/SNAPSHOT")
  if [ -z "$commit" ] || [ -z "$date" ]; then
    echo "advisories: $snapshot/SNAPSHOT names no 'commit:' or 'commit date:'" >&2
    exit 1
  fi
  log "advisories: the RustSec snapshot at upstream commit $commit of $date (GitHub does not answer)"
  # cargo-deny looks for the database of its default URL under db-path, in a
  # folder named after that URL.
  db="$work/dbs/advisory-db-3157b0e258782691"
  rm -rf "$work/dbs"
  mkdir -p "$db"
  cp -R "$snapshot/." "$db/"
  chmod -R u+w "$db"
  git -C "$db" init -q
  git -C "$db" add -A
  GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
    git -C "$db" -c user.name="RustSec snapshot" -c user.email="snapshot@localhost" \
    -c commit.gpgsign=false commit -q -m "RustSec advisory-db $commit"
  config="$work/deny.toml"
  awk -v db="$work/dbs" '{ print } /^\[advisories\]$/ { print "db-path = \"" db "\"" }' \
    deny.toml >"$config"
  offline=(--offline)
fi

# Checks the package at $1 (its Cargo.toml); the crate graph comes from
# `cargo metadata`, run first, so the offline check resolves nothing itself.
check() {
  local manifest=$1 meta
  meta="$work/$(basename "$(dirname "$manifest")").metadata.json"
  cargo metadata --locked --format-version 1 --manifest-path "$manifest" >"$meta"
  cargo deny "${offline[@]}" --manifest-path "$manifest" --metadata-path "$meta" \
    --config "$config" check --hide-inclusion-graph advisories
}

log "advisories: Signet"
check Cargo.toml

if [ "$self_test" = 1 ]; then
  log "advisories: a lock file pinning smallvec 1.6.0 must be refused (RUSTSEC-2021-0003)"
  if out=$(check scripts/advisories-fixture/Cargo.toml 2>&1); then
    printf '%s\n' "$out" >&2
    echo "advisories: the check passed a lock file with a known vulnerability" >&2
    exit 1
  fi
  if ! grep -q 'RUSTSEC-2021-0003' <<<"$out"; then
    printf '%s\n' "$out" >&2
    echo "advisories: the check failed, but not on RUSTSEC-2021-0003" >&2
    exit 1
  fi
  log "advisories: refused as it should be (RUSTSEC-2021-0003)"
fi
