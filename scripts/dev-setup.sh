#!/usr/bin/env bash
# dev-setup.sh - prepare a local development instance of Parley.
#
#   scripts/dev-setup.sh BUILD_DIR VAR_DIR
#
# Idempotent: creates VAR_DIR; generates a self-signed certificate for
# localhost (and conference.localhost) only if VAR_DIR/cert.pem is missing;
# writes a development VAR_DIR/parley.yml only if it is missing, so local
# edits survive a re-run.  Paths in the config are relative to VAR_DIR
# (Parley resolves them against the config file's directory).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 BUILD_DIR VAR_DIR" >&2
  exit 2
fi
build_dir=$1
var_dir=$2

mkdir -p "$var_dir"

cert="$var_dir/cert.pem"
if [ ! -e "$cert" ]; then
  command -v openssl >/dev/null || { echo "$0: openssl not found (scripts/install-deps.sh)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # P-256 keeps handshakes cheap; ten years so a dev box never sees it expire.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 3650 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,DNS:conference.localhost" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
  # One PEM holding chain and key, as 'certfiles' expects; it holds a
  # private key, so nobody else may read it.  Created 0600 before any byte
  # is written, then moved into place so a half-written file never exists.
  (umask 077 && cat "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/combined.pem")
  chmod 600 "$tmp/combined.pem"
  mv "$tmp/combined.pem" "$cert"
  echo "Generated a self-signed certificate for localhost: $cert"
fi

conf="$var_dir/parley.yml"
if [ ! -e "$conf" ]; then
  tmpconf=$(mktemp "$var_dir/.parley.yml.XXXXXX")
  cat > "$tmpconf" <<'EOF'
# Parley development configuration, written by scripts/dev-setup.sh.
# Relative paths are relative to this file's directory.
# Reference: docs/configuration.md (parleyd --config-reference).
loglevel: info
hosts:
  - localhost
certfiles:
  - cert.pem
listen:
  - module: c2s
    ip: 127.0.0.1
    port: 5222
    starttls_required: true
  - module: c2s
    ip: 127.0.0.1
    port: 5223
    tls: true
  - module: control
    path: parley.sock
  - module: http
    ip: 127.0.0.1
    port: 5280
storage:
  backend: sqlite
  path: parley.db
modules:
  disco:
  ping:
  version:
  time:
  roster:
  blocking:
  private:
  vcard:
  last:
  pep:
  offline:
  mam:
  carbons:
  push:
  stream_management:
  csi:
  register:
  adhoc:
  muc:
EOF
  mv "$tmpconf" "$conf"
  echo "Wrote a development configuration: $conf"
fi

cat <<EOF

Start the server:  $build_dir/parleyd -c $conf
Create a user:     $build_dir/parleyctl -c $conf register alice localhost 'secret'
Connect a client (Gajim, Dino, ...) as alice@localhost to 127.0.0.1 port 5222 (STARTTLS)
or 5223 (direct TLS); the certificate is self-signed: accept it.
EOF
