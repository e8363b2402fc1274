#!/usr/bin/env bash
# Make a self-signed ECDSA P-256 certificate for hmesh-stoq (CN and SAN
# localhost, SAN IP 127.0.0.1) and a second, unrelated CA certificate that
# does NOT sign it (for the "bad certificate" tests).
# Usage: stoq/stoq-cert.sh [DIR [SAN...]]   (default build/stoq; skips if
# present). Each SAN (e.g. IP:10.77.0.1, DNS:api.mesh) is added to the
# certificate's subjectAltName.
set -euo pipefail
dir=${1:-build/stoq}
shift || true
san="DNS:localhost,IP:127.0.0.1"
for s in "$@"; do san+=",$s"; done
mkdir -p "$dir"
if [[ -s "$dir/cert.pem" && -s "$dir/key.pem" && -s "$dir/other-ca.pem" ]]; then
	exit 0
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj "/CN=localhost" -addext "subjectAltName=$san" \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj "/CN=not-the-hmesh-ca" -keyout "$dir/other-ca-key.pem" -out "$dir/other-ca.pem" 2>/dev/null
echo "stoq-cert: wrote $dir/cert.pem $dir/key.pem $dir/other-ca.pem"
