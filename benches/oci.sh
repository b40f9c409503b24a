#!/usr/bin/env bash
# A layer through the OCI face against the bare store, in one run on Garage:
# a direct GET of an object of the same size (benches/baseline/blobcopy.rs),
# the same file as a `/v1` download, as an OCI blob streamed through Signet
# (`/v2`, redirects off), and as an OCI blob redirected to a presigned URL
# (`/v2` with SIGNET_REDIRECT_SECS, followed by curl). Each figure comes with
# the CPU-seconds per GiB that Garage, Signet and the client spent on it (from
# /proc), and Signet's peak RSS.
#
#   benches/oci.sh [SIZE_MIB]      (default 1024)
#
# Goals: a redirected pull at >= 0.95x of the direct GET with Signet's CPU per
# GiB near zero; a proxied pull no slower than the /v1 download.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
bytes=$((mib << 20))

cargo build --release --quiet --bin signet --example blobcopy
bin=${SIGNET_BENCH_BINARY:-target/release/signet}
blobcopy=target/release/examples/blobcopy
source scripts/garage.sh
PG_URL=${SIGNET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

work=$(mktemp -d "${TMPDIR:-/var/tmp}/signet-bench.XXXXXX")
dbname="signet_bench_oci_$$"
trap 'stop_garage; psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $dbname" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
token="sgn_bench$(openssl rand -hex 20)"
port=$(free_port)
S=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $token")
basic=(-u "bench:$token")

now() { date +%s.%N; }
rate() { python3 -c "import sys; b,t0,t1=map(float,sys.argv[1:]); print(f'{b/(t1-t0)/1e9:.3f} GB/s ({t1-t0:.2f} s)')" "$@"; }
gbps() { python3 -c "import sys; b,t0,t1=map(float,sys.argv[1:]); print(b/(t1-t0)/1e9)" "$@"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$@"; }
rss_kib() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
clk=$(getconf CLK_TCK)
cpu_s() { awk -v clk="$clk" '{sub(/^.*\) /, ""); print ($12 + $13) / clk}' "/proc/$1/stat"; }
# Runs a download, sets t0/t1 around it and `cpu` to the CPU-seconds per GiB
# of Garage, of Signet (when running) and of the client.
fetch() { # signet-pid|- cmd...
  local mid=$1 g0 m0=0 g1 m1=0 TIMEFORMAT='%U %S'
  shift
  g0=$(cpu_s "$garage_pid"); [ "$mid" = - ] || m0=$(cpu_s "$mid")
  t0=$(now); { time "$@" >/dev/null 2>&1; } 2>"$work/time"; t1=$(now)
  g1=$(cpu_s "$garage_pid"); [ "$mid" = - ] || m1=$(cpu_s "$mid")
  cpu=$(python3 -c "import sys; b,g0,g1,m0,m1,u,s=map(float,sys.argv[2:9]); n=sys.argv[1]; gib=b/2**30
parts=[f'Garage {(g1-g0)/gib:.2f}'] + ([f'Signet {(m1-m0)/gib:.2f}'] if n!='-' else []) + [f'client {(u+s)/gib:.2f}']
print('CPU s/GiB: ' + ', '.join(parts))" "$mid" "$bytes" "$g0" "$g1" "$m0" "$m1" $(cat "$work/time"))
}

start_signet() { # redirect-secs
  SIGNET_DATABASE_URL="${PG_URL%/*}/$dbname" SIGNET_STORAGE_URL="s3://$GARAGE_BUCKET/bench-oci" \
    SIGNET_LISTEN=127.0.0.1:$port SIGNET_REDIRECT_SECS=$1 \
    SIGNET_BOOTSTRAP_TOKEN=$token SIGNET_S3_ENDPOINT=$GARAGE_ENDPOINT SIGNET_S3_REGION=$GARAGE_REGION \
    SIGNET_S3_ALLOW_HTTP=true SIGNET_GC_INTERVAL_SECS=0 SIGNET_METRICS_LISTEN=off RUST_LOG=warn \
    SIGNET_DOWNLOAD_QUOTA=off "$bin" serve >>"$work/signet.log" 2>&1 &
  signet_pid=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$S/readyz" && return; sleep 0.1; done
  cat "$work/signet.log"; exit 1
}
stop_signet() { kill "$signet_pid"; wait "$signet_pid" 2>/dev/null || true; }
json() { curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d "$2" "$S$1" >/dev/null; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
psql "$PG_URL" -qc "CREATE DATABASE $dbname" >/dev/null
file=$work/layer.bin
head -c "$bytes" /dev/urandom >"$file"
digest=sha256:$(sha256sum "$file" | cut -d' ' -f1)
echo "== $mib MiB layer, PostgreSQL + Garage"

AWS_ENDPOINT=$GARAGE_ENDPOINT AWS_REGION=$GARAGE_REGION "$blobcopy" put "$file" "s3://$GARAGE_BUCKET" "direct/oci"
fetch - env AWS_ENDPOINT=$GARAGE_ENDPOINT AWS_REGION=$GARAGE_REGION "$blobcopy" get "s3://$GARAGE_BUCKET" "direct/oci"
direct=$(gbps $bytes $t0 $t1)
echo "direct GET (object_store):  $(rate $bytes $t0 $t1); $cpu"

start_signet 0
base_rss=$(rss_kib "$signet_pid" VmRSS)
json /v1/namespaces '{"name":"bench"}'
json /v1/models '{"namespace":"bench","name":"m"}'
json /v1/models/bench/m/versions '{}'
curl -sf "${auth[@]}" -T "$file" "$S/v1/models/bench/m/versions/1/files/layer.bin" >/dev/null
curl -sf "${auth[@]}" -X POST "$S/v1/models/bench/m/versions/1/seal" >/dev/null

fetch "$signet_pid" curl -sf "${auth[@]}" -o /dev/null "$S/v1/models/bench/m/versions/1/files/layer.bin"
v1=$(gbps $bytes $t0 $t1)
echo "/v1 download:               $(rate $bytes $t0 $t1); $(ratio "$v1" "$direct")x of the direct GET; $cpu"
fetch "$signet_pid" curl -sf "${basic[@]}" -o /dev/null "$S/v2/bench/m/blobs/$digest"
proxied=$(gbps $bytes $t0 $t1)
echo "/v2 blob, through Signet:   $(rate $bytes $t0 $t1); $(ratio "$proxied" "$direct")x of the direct GET, $(ratio "$proxied" "$v1")x of /v1; $cpu"
peak=$(rss_kib "$signet_pid" VmHWM)
echo "Signet RSS: start $((base_rss / 1024)) MiB, peak $((peak / 1024)) MiB"
stop_signet

start_signet 300
fetch "$signet_pid" curl -sfL "${basic[@]}" -o /dev/null "$S/v2/bench/m/blobs/$digest"
redirected=$(gbps $bytes $t0 $t1)
echo "/v2 blob, redirected (307): $(rate $bytes $t0 $t1); $(ratio "$redirected" "$direct")x of the direct GET; $cpu"
got=$(curl -sfL "${basic[@]}" "$S/v2/bench/m/blobs/$digest" | sha256sum | cut -d' ' -f1)
[ "sha256:$got" = "$digest" ] || { echo "the redirected bytes are not the layer" >&2; exit 1; }
stop_signet
