#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain and python3: `redis-server`
# (Debian's package), for limits-layer's Redis store tests, and `promtool` (Debian's
# `prometheus` package), for the gateway's `/metrics` check. Idempotent: does nothing
# when both are already on PATH. Run by `.ci/run`, and by the Redis test
# helper itself when it cannot find the server (so `cargo test --workspace` works on a
# fresh machine).
set -euo pipefail

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "${packages[*]} missing and this user cannot install packages (no root, no sudo)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
command -v redis-server >/dev/null 2>&1
command -v promtool >/dev/null 2>&1
