# Sourced by scripts/test.sh and benches/throughput.sh: installs Garage once when
# missing, starts a throwaway single-node Garage in a temporary directory, stops
# it on exit, and exports the S3 settings:
#   GARAGE_ENDPOINT, GARAGE_REGION, GARAGE_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v garage >/dev/null 2>&1; then
  echo "==> installing Garage 2.5.0 (about 10 minutes, once per machine)" >&2
  cargo install garage@2.5.0 --locked
fi
garage_work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
garage_s3_port=$(free_port)
garage_rpc_port=$(free_port)
garage_admin_port=$(free_port)
cat >"$garage_work/garage.toml" <<TOML
metadata_dir = "$garage_work/meta"
data_dir = "$garage_work/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$garage_rpc_port"
rpc_public_addr = "127.0.0.1:$garage_rpc_port"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$garage_s3_port"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$garage_admin_port"
admin_token = "$(openssl rand -hex 16)"
TOML
export GARAGE_ENDPOINT="http://127.0.0.1:$garage_s3_port"
export GARAGE_REGION=garage
export GARAGE_BUCKET=signet-test
export AWS_ACCESS_KEY_ID="GK$(openssl rand -hex 12)"
export AWS_SECRET_ACCESS_KEY="$(openssl rand -hex 32)"
GARAGE_DEFAULT_ACCESS_KEY=$AWS_ACCESS_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
  GARAGE_DEFAULT_BUCKET=$GARAGE_BUCKET \
  garage -c "$garage_work/garage.toml" server --single-node --default-bucket >"$garage_work/garage.log" 2>&1 &
garage_pid=$!
stop_garage() { kill "$garage_pid" 2>/dev/null || true; wait "$garage_pid" 2>/dev/null || true; rm -rf "$garage_work"; }
trap stop_garage EXIT
# Up when the S3 API answers (an unsigned request gets an S3 error document).
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$GARAGE_ENDPOINT/" && break
  sleep 0.1
done
curl -s -o /dev/null "$GARAGE_ENDPOINT/" || { cat "$garage_work/garage.log" >&2; exit 1; }
echo "==> Garage on $GARAGE_ENDPOINT" >&2
