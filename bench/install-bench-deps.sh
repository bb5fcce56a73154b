#!/bin/bash
# Installs what `make bench` needs besides Parley's own build dependencies
# (scripts/install-deps.sh): the two servers Parley is compared with
# (Debian's ejabberd and Prosody packages, issue 7) and the tools run.py
# uses (taskset from util-linux, setpriv, openssl for the test certificate).
# The packages' own system services are stopped and disabled: the benchmark
# starts its own instances from a temp dir and must not share ports with
# (or be measured next to) system ones.
set -euo pipefail

need=()
for pkg in ejabberd prosody util-linux openssl procps; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "install-bench-deps: installing ${need[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
    # Fresh installs start their services: stop them (best effort, no
    # systemd in containers).
    for svc in ejabberd prosody; do
        if [[ " ${need[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null; then
            $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
        fi
    done
fi
