#!/usr/bin/env bash
# Bounded soak of the release gateway on loopback: steady mixed load for SECONDS
# (default 600), sampling RSS, open fds and upstream sockets every second; fails if
# RSS or fds grow more than 5% after warm-up.
#
#   benches/soak.sh [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
CONC=${2:-32}
GW=18093 UP=18094
work=$(mktemp -d)
cargo build --release -q -p gateway-example -p benches
cat > "$work/gateway.yaml" <<CONF
server: {listen: "127.0.0.1:$GW"}
pool: {keepalive_s: 5}
model_list:
  - {model_name: chat-a, litellm_params: {model: openai/a, api_base: "http://127.0.0.1:$UP"}}
  - {model_name: chat-b, litellm_params: {model: openai/b, api_base: "http://127.0.0.1:$UP"}}
  - {model_name: chat-c, litellm_params: {model: openai/c, api_base: "http://127.0.0.1:$UP"}}
CONF
target/release/stream-bench upstream "$UP" & up=$!
RUST_LOG=warn target/release/gateway --config "$work/gateway.yaml" >/dev/null 2>"$work/gateway.err" & gw=$!
trap 'kill $up $gw 2>/dev/null || true; rm -rf "$work"' EXIT
for port in $UP $GW; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
target/release/soak "http://127.0.0.1:$GW" "$gw" "$UP" "$SECS" "$CONC"
