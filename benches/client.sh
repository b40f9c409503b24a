#!/usr/bin/env bash
# The `signet` client's push and pull of a directory of several files against
# the server's own single-stream figures for the same bytes, measured in the
# same run, with the client's peak memory.
#
#   benches/client.sh [TOTAL_MIB [FILES]]      (default 4096 MiB in 4 files)
#
# Setup: SQLite + a local directory, Signet and the client both release
# builds on this machine. Baselines: one `curl -T` upload per file, one after
# the other (the server's single-stream upload), and one `curl` download per
# file (its single-stream verified download). The client pushes with --jobs 4
# (hashing every file first, resumable uploads for files over 8 MiB, sealing,
# signing) and pulls with --jobs 4 (verifying the signature against a pinned
# key, every file's digest, and moving the directory into place). Its peak RSS
# (ru_maxrss) is compared with a push and pull of a 1 KiB directory.
#
# With two cores or more, the server runs on the first and every client (curl
# and signet) on the second, as on two machines: a client that verifies what it
# pulls (and hashes what it pushes) then does not take its CPU from the server
# it is measured against. SIGNET_BENCH_PIN=0 turns that off.
set -euo pipefail
cd "$(dirname "$0")/.."
total_mib=${1:-4096}
files=${2:-4}
jobs=${SIGNET_BENCH_JOBS:-4}
cargo build --release --quiet --bin signet
bin=$PWD/target/release/signet

server_cpu=() client_cpu=()
if [ "${SIGNET_BENCH_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/signet-client-bench.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
S=http://127.0.0.1:$port
token="sgn_bench$(openssl rand -hex 20)"
auth=(-H "Authorization: Bearer $token")
SIGNET_DATABASE_URL="sqlite://$work/db/signet.db" SIGNET_STORAGE_URL="$work/blobs" \
  SIGNET_LISTEN=127.0.0.1:$port SIGNET_BOOTSTRAP_TOKEN=$token SIGNET_GC_INTERVAL_SECS=0 \
  SIGNET_METRICS_LISTEN=off RUST_LOG=warn "${server_cpu[@]}" "$bin" serve >"$work/signet.log" 2>&1 &
signet_pid=$!
trap 'kill $signet_pid 2>/dev/null; wait $signet_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "$S/readyz" && break; sleep 0.1; done
json() { curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d "$2" "$S$1"; }
json /v1/namespaces '{"name":"bench"}' >/dev/null
json /v1/models '{"namespace":"bench","name":"m"}' >/dev/null

# Runs the client; prints "seconds max_rss_kib" on fd 3, the client's output
# on stdout.
export SIGNET_URL=$S SIGNET_TOKEN=$token SIGNET_CONFIG_DIR=$work/config
timed() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
t = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{t:.3f} {rss}")
PY
}
rate() { python3 -c "import sys; b,t=map(float,sys.argv[1:]); print(f'{b/t/1e9:.3f} GB/s ({t:.2f} s)')" "$@"; }
# The client's rate as a multiple of the baseline's (times given: client, baseline).
ratio() { python3 -c "import sys; c,b=map(float,sys.argv[1:]); print(f'{b/c:.2f}x')" "$@"; }

cd "$work"
"$bin" keygen --out ci >/dev/null
json /v1/keys "$(python3 -c 'import json; print(json.dumps({"name":"ci","namespaces":["bench"],"public_key":open("ci.pub").read()}))')" >/dev/null

echo "server on: ${server_cpu[*]:-any core}; clients on: ${client_cpu[*]:-any core}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
mkdir -p tiny big
head -c 1024 /dev/urandom >tiny/a.bin
each=$(( (total_mib << 20) / files ))
for i in $(seq 1 "$files"); do head -c "$each" /dev/urandom >"big/part-$i.bin"; done
bytes=$(( each * files ))
cat big/* >/dev/null
echo "== $files files, $((bytes >> 20)) MiB in all"

# Every timed phase starts with nothing left to flush and ends with `sync`, so
# each pays for writing its own bytes to this disk (and only its own).
# The server alone, one stream: each file PUT then GET with curl.
v=$(json /v1/models/bench/m/versions '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
sync
t0=$(date +%s.%N)
for f in big/*; do "${client_cpu[@]}" curl -sf "${auth[@]}" -T "$f" "$S/v1/models/bench/m/versions/$v/files/$(basename "$f")" >/dev/null; done
sync
t1=$(date +%s.%N)
up=$(python3 -c "print($t1 - $t0)")
# Downloads to files beside the client's, as a pull writes them (and to
# /dev/null, the server's own rate without this disk).
mkdir -p curl-out
sync
t0=$(date +%s.%N)
for f in big/*; do "${client_cpu[@]}" curl -sf "${auth[@]}" -o "curl-out/$(basename "$f")" "$S/v1/models/bench/m/versions/$v/files/$(basename "$f")"; done
sync
t1=$(date +%s.%N)
down=$(python3 -c "print($t1 - $t0)")
rm -rf curl-out
t0=$(date +%s.%N)
for f in big/*; do "${client_cpu[@]}" curl -sf "${auth[@]}" -o /dev/null "$S/v1/models/bench/m/versions/$v/files/$(basename "$f")"; done
t1=$(date +%s.%N)
null=$(python3 -c "print($t1 - $t0)")
echo "server, single stream (curl):  upload $(rate $bytes "$up"), download to files $(rate $bytes "$down") (to /dev/null $(rate $bytes "$null"))"

read -r small_push small_rss_push < <(timed "${client_cpu[@]}" "$bin" push tiny bench/m --sign ci.key)
sync
read -r push push_rss < <(timed "${client_cpu[@]}" sh -c '"$0" "$@" && sync' "$bin" push big bench/m --sign ci.key --jobs "$jobs")
latest=$(curl -sf "${auth[@]}" "$S/v1/models/bench/m/versions?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["version"])')
small=$((latest - 1))
read -r small_pull small_rss_pull < <(timed "${client_cpu[@]}" "$bin" pull "bench/m@$small" tiny-out --trust-key ci.pub)
sync
read -r pull pull_rss < <(timed "${client_cpu[@]}" sh -c '"$0" "$@" && sync' "$bin" pull "bench/m@$latest" big-out --trust-key ci.pub --jobs "$jobs")
cmp -s big/part-1.bin big-out/part-1.bin || { echo "pulled bytes differ"; exit 1; }
# Redeploys into the same directory: the same version again (its files hashed
# here against the pinned signature, nothing fetched), then another version
# (the old files hashed, the new ones fetched beside them and swapped in).
read -r same _ < <(timed "${client_cpu[@]}" "$bin" pull "bench/m@$latest" big-out --trust-key ci.pub --jobs "$jobs")
read -r swap _ < <(timed "${client_cpu[@]}" sh -c '"$0" "$@" && sync' "$bin" pull "bench/m@$small" big-out --trust-key ci.pub --jobs "$jobs")
[ -f big-out/a.bin ] || { echo "the redeploy did not swap"; exit 1; }
echo "client push (--jobs $jobs):        $(rate $bytes "$push"), $(ratio "$push" "$up") of the server's single stream"
echo "client pull (--jobs $jobs):        $(rate $bytes "$pull"), $(ratio "$pull" "$down") of the server's single stream"
echo "redeploy, same version:        $(rate $bytes "$same") of local files checked ($(python3 -c "print(f'{$same / $pull:.2f}')")x the first pull's time)"
echo "redeploy, another version:     ${swap} s (the ${bytes}-byte pull it replaces checked, a 1 KiB one fetched and swapped in)"
echo "client peak RSS: push $((push_rss / 1024)) MiB (1 KiB dir: $((small_rss_push / 1024)) MiB, growth $(((push_rss - small_rss_push) / 1024)) MiB), pull $((pull_rss / 1024)) MiB (1 KiB dir: $((small_rss_pull / 1024)) MiB, growth $(((pull_rss - small_rss_pull) / 1024)) MiB)"
