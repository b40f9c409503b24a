#!/usr/bin/env bash
# Faults Signet survives (scripts/faults.py says which), each run against a
# PostgreSQL cluster and a Garage of its own, so stopping them cannot disturb
# anything else.
#
#   scripts/faults.sh            the short form (20 kill -9 rounds per backend),
#                                run by scripts/test.sh
#   scripts/faults.sh 1000       the soak
#   SIGNET_FAULTS_SEED=N         repeats a run's random choices
#   SIGNET_FAULTS_BACKENDS=sqlite   kill rounds of one backend only (default both;
#                                two soaks, one per backend, can run side by side)
#   SIGNET_FAULTS_BINARY=PATH    another build of signet (a release build soaks faster)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
export PATH="$HOME/.cargo/bin:$PATH"
if [ -n "${SIGNET_FAULTS_BINARY:-}" ]; then
  signet=$(realpath "$SIGNET_FAULTS_BINARY")
else
  cargo build ${CARGO_LOCKED:+--locked} --bin signet
  signet="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/signet"
fi
# A Garage of its own (stopped on exit); the script stops and restarts it.
source scripts/garage.sh
export FAULTS_GARAGE_CONF="$garage_work/garage.toml" FAULTS_GARAGE_PID=$garage_pid
# Killed by the script on purpose: not a job for this shell to report.
disown "$garage_pid" 2>/dev/null || true
exec_args=("$signet" --rounds "$rounds")
[ -n "${SIGNET_FAULTS_SEED:-}" ] && exec_args+=(--seed "$SIGNET_FAULTS_SEED")
[ -n "${SIGNET_FAULTS_BACKENDS:-}" ] && exec_args+=(--backends "$SIGNET_FAULTS_BACKENDS")
python3 scripts/faults.py "${exec_args[@]}"
