#!/usr/bin/env bash
# Upload and download throughput through Signet against the bare store, and
# Signet's peak memory, for files of the given sizes (MiB; default 1024 4096).
#
#   benches/throughput.sh [SIZE_MIB ...]
#
# SIGNET_BENCH_SETUPS="local s3" (the default) chooses the setups;
# SIGNET_BENCH_BINARY measures another build of signet against the same baselines.
#
# Two setups: SQLite + a local directory (baseline: cp / cat), and PostgreSQL +
# Garage S3 (baseline: benches/baseline/blobcopy.rs, a direct multipart PUT / GET with
# object_store). The machine's hashing limit is `openssl dgst -sha256` of the same
# bytes on one core. Each Signet figure is printed beside its limit: on the local
# directory min(cp or cat, one-core SHA-256), on S3 the direct PUT or GET. Files
# are page-cached for every run alike. Signet is restarted for each size so its
# peak RSS (VmHWM) belongs to that size alone.
#
# Where an S3 download's time goes: beside the direct GET, the same object through
# a bare proxy (`blobcopy serve`: one GET streamed through, no auth, no audit),
# once as is and once hashing every chunk with SHA-256 on its way; each S3
# download prints the CPU-seconds per GiB that Garage, the process in between and
# the client spent on it (from /proc), since all of them share this machine's
# cores.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1024 4096}")
read -r -a sizes <<<"${sizes[*]}"

cargo build --release --quiet --bin signet --example blobcopy
# SIGNET_BENCH_BINARY: another build of signet, measured against the same baselines.
bin=${SIGNET_BENCH_BINARY:-target/release/signet}
blobcopy=target/release/examples/blobcopy
source scripts/garage.sh
PG_URL=${SIGNET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

work=$(mktemp -d "${TMPDIR:-/var/tmp}/signet-bench.XXXXXX")
trap 'stop_garage; rm -rf "$work"' EXIT
token="sgn_bench$(openssl rand -hex 20)"
port=$(free_port)
S=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $token")

now() { date +%s.%N; }
rate() { python3 -c "import sys; b,t0,t1=map(float,sys.argv[1:]); print(f'{b/(t1-t0)/1e9:.3f} GB/s ({t1-t0:.2f} s)')" "$@"; }
gbps() { python3 -c "import sys; b,t0,t1=map(float,sys.argv[1:]); print(b/(t1-t0)/1e9)" "$@"; }
# "RATE (×F of the limit LIMIT GB/s)": a figure beside the limit it is held to.
against() { python3 -c "import sys; r,*l=map(float,sys.argv[1:]); m=min(l); print(f'{r:.3f} GB/s, {r/m:.2f}x of the limit {m:.3f} GB/s')" "$@"; }
# A / B to two decimals.
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$@"; }
rss_kib() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
clk=$(getconf CLK_TCK)
# CPU-seconds (user + system) a running process has spent.
cpu_s() { awk -v clk="$clk" '{sub(/^.*\) /, ""); print ($12 + $13) / clk}' "/proc/$1/stat"; }
# Runs a download (the client command after the pid of the server in between, or
# -), sets t0/t1 around it, and sets `cpu` to the CPU-seconds per GiB of Garage,
# of that server and of the client.
fetch() { # mid-pid label-of-mid cmd...
  local mid=$1 name=$2 g0 m0=0 g1 m1=0 TIMEFORMAT='%U %S'
  shift 2
  g0=$(cpu_s "$garage_pid"); [ "$mid" = - ] || m0=$(cpu_s "$mid")
  t0=$(now); { time "$@" >/dev/null 2>&1; } 2>"$work/time"; t1=$(now)
  g1=$(cpu_s "$garage_pid"); [ "$mid" = - ] || m1=$(cpu_s "$mid")
  cpu=$(python3 -c "import sys; b,g0,g1,m0,m1,u,s=map(float,sys.argv[2:9]); n=sys.argv[1]; gib=b/2**30
parts=[f'Garage {(g1-g0)/gib:.2f}'] + ([f'{n} {(m1-m0)/gib:.2f}'] if n!='-' else []) + [f'client {(u+s)/gib:.2f}']
print('CPU s/GiB: ' + ', '.join(parts))" "$name" "$bytes" "$g0" "$g1" "$m0" "$m1" $(cat "$work/time"))
}

start_signet() { # db-url storage-url
  SIGNET_DATABASE_URL=$1 SIGNET_STORAGE_URL=$2 SIGNET_LISTEN=127.0.0.1:$port \
    SIGNET_BOOTSTRAP_TOKEN=$token SIGNET_S3_ENDPOINT=$GARAGE_ENDPOINT SIGNET_S3_REGION=$GARAGE_REGION \
    SIGNET_S3_ALLOW_HTTP=true SIGNET_GC_INTERVAL_SECS=0 SIGNET_METRICS_LISTEN=off RUST_LOG=warn \
    "$bin" serve >"$work/signet.log" 2>&1 &
  signet_pid=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$S/readyz" && return; sleep 0.1; done
  cat "$work/signet.log"; exit 1
}
stop_signet() { kill "$signet_pid"; wait "$signet_pid" 2>/dev/null || true; }
json() { curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d "$2" "$S$1" >/dev/null; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
for mib in "${sizes[@]}"; do
  file=$work/src-$mib.bin
  head -c $((mib << 20)) /dev/urandom >"$file"
  bytes=$((mib << 20))
  cat "$file" >/dev/null
  t0=$(now); openssl dgst -sha256 "$file" >/dev/null; t1=$(now)
  sha=$(gbps $bytes $t0 $t1)
  echo "== $mib MiB"
  echo "sha256 (openssl, 1 core):     $(rate $bytes $t0 $t1)"

  for setup in ${SIGNET_BENCH_SETUPS:-local s3}; do
    if [ $setup = local ]; then
      db="sqlite://$work/$setup-$mib/signet.db"; store="$work/$setup-$mib/blobs"
      mkdir -p "$store"
      # Like Signet, cp leaves flushing to the page cache (no fsync).
      t0=$(now); cp "$file" "$work/direct-$mib.bin"; t1=$(now)
      echo "local  direct write (cp):     $(rate $bytes $t0 $t1)"
      put_limit=("$(gbps $bytes $t0 $t1)" "$sha")
      t0=$(now); cat "$work/direct-$mib.bin" >/dev/null; t1=$(now)
      echo "local  direct read (cat):     $(rate $bytes $t0 $t1)"
      get_limit=("$(gbps $bytes $t0 $t1)" "$sha")
      rm -f "$work/direct-$mib.bin"
    else
      dbname="signet_bench_$mib"
      psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname" >/dev/null
      db="${PG_URL%/*}/$dbname"; store="s3://$GARAGE_BUCKET/bench-$mib"
      t0=$(now); AWS_ENDPOINT=$GARAGE_ENDPOINT AWS_REGION=$GARAGE_REGION "$blobcopy" put "$file" "s3://$GARAGE_BUCKET" "direct/$mib"; t1=$(now)
      echo "s3     direct PUT (multipart): $(rate $bytes $t0 $t1)"
      put_limit=("$(gbps $bytes $t0 $t1)")
      fetch - - env AWS_ENDPOINT=$GARAGE_ENDPOINT AWS_REGION=$GARAGE_REGION "$blobcopy" get "s3://$GARAGE_BUCKET" "direct/$mib"
      echo "s3     direct GET:             $(rate $bytes $t0 $t1); $cpu"
      get_limit=("$(gbps $bytes $t0 $t1)")
      for mode in "" sha256; do
        proxy_port=$(free_port)
        AWS_ENDPOINT=$GARAGE_ENDPOINT AWS_REGION=$GARAGE_REGION "$blobcopy" serve "s3://$GARAGE_BUCKET" "127.0.0.1:$proxy_port" $mode &
        proxy_pid=$!
        for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$proxy_port/" && break; sleep 0.1; done
        fetch "$proxy_pid" proxy curl -sf -o /dev/null "http://127.0.0.1:$proxy_port/direct/$mib"
        kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
        label="proxy GET${mode:+ + SHA-256}:"
        proxy_gbps=$(gbps $bytes $t0 $t1)
        printf 's3     %-23s%s; %sx of the direct GET; %s\n' "$label" "$(rate $bytes $t0 $t1)" \
          "$(ratio "$proxy_gbps" "${get_limit[0]}")" "$cpu"
      done
    fi
    start_signet "$db" "$store"
    base_rss=$(rss_kib "$signet_pid" VmRSS)
    json /v1/namespaces '{"name":"bench"}'
    json /v1/models '{"namespace":"bench","name":"m"}'
    json /v1/models/bench/m/versions '{}'
    url=$S/v1/models/bench/m/versions/1/files/model.bin
    t0=$(now); curl -sf "${auth[@]}" -T "$file" "$url" >/dev/null; t1=$(now)
    echo "$setup signet upload:          $(rate $bytes $t0 $t1); $(against "$(gbps $bytes $t0 $t1)" "${put_limit[@]}")"
    if [ $setup = local ]; then
      t0=$(now); curl -sf "${auth[@]}" -o /dev/null "$url"; t1=$(now)
      echo "$setup signet download:        $(rate $bytes $t0 $t1); $(against "$(gbps $bytes $t0 $t1)" "${get_limit[@]}")"
    else
      fetch "$signet_pid" Signet curl -sf "${auth[@]}" -o /dev/null "$url"
      got=$(gbps $bytes $t0 $t1)
      echo "$setup signet download:        $(rate $bytes $t0 $t1); $(against "$got" "${get_limit[@]}"), $(ratio "$got" "$proxy_gbps")x of the proxy + SHA-256; $cpu"
    fi
    peak=$(rss_kib "$signet_pid" VmHWM)
    echo "$setup signet RSS: start $((base_rss / 1024)) MiB, peak $((peak / 1024)) MiB, growth $(((peak - base_rss) / 1024)) MiB"
    stop_signet
  done
  rm -f "$file"
done
