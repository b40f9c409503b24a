#!/usr/bin/env bash
# Writes a CycloneDX SBOM (JSON, spec 1.5) of Signet's release build: the
# `signet` binary and every crate it is built from, from the locked dependency
# set, with licenses and checksums. Installs cargo-cyclonedx once when missing.
#
#   scripts/sbom.sh [OUT]    # default: target/sbom/signet.cdx.json
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=${1:-target/sbom/signet.cdx.json}
if ! cargo cyclonedx --version 2>/dev/null | grep -q '0.5.9'; then
  echo "==> installing cargo-cyclonedx 0.5.9 (a few minutes, once per machine)" >&2
  cargo install cargo-cyclonedx --version 0.5.9 --locked
fi
# The release build's graph on Linux: normal dependencies, no dev-dependencies.
# With --describe binaries the file is named after the binary: signet_bin.cdx.json.
cargo cyclonedx --format json --spec-version 1.5 \
  --target x86_64-unknown-linux-gnu --describe binaries
mkdir -p "$(dirname "$out")"
mv signet_bin.cdx.json "$out"
echo "SBOM written to $out" >&2
