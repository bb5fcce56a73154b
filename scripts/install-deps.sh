#!/usr/bin/env bash
# Install the Debian packages Parley needs to build, run and test.
# Idempotent: it only calls apt-get when a package is missing, and runs
# 'apt-get update' first in that case (a fresh machine has empty lists).
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh test     ... plus what the test suite needs
set -euo pipefail

build_pkgs=(
  build-essential pkg-config meson ninja-build
  libevent-dev libexpat1-dev libssl-dev openssl libidn-dev libidn2-dev
  libunistring-dev libsqlite3-dev libyaml-dev libjansson-dev
)
test_pkgs=(
  libcmocka-dev python3 python3-pytest python3-slixmpp curl
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "test" ]; then
  pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
