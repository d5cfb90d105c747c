#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: a measure that,
# unlike CPU time on a shared or virtual machine, barely moves from run to run, so a
# change to the hot path can be judged by a ~1% difference.
#
#   benches/callgrind.sh [BINARY]      (default: a fresh build of the gateway in the
#                                       `profiling` profile: release code with line tables)
#   benches/callgrind.sh --bare [BINARY] (the bare-proxy binary instead: the same server
#                                       and pool, none of the gateway's layers)
#   benches/callgrind.sh --stack       (no sockets: the in-process layer stack of the
#                                       `full_stack` criterion bench, per request, over
#                                       its handler alone)
#
# Runs the gateway (one worker) under callgrind against a loopback nginx returning
# e2e.sh's fixed ~600-byte chat completion, twice (2 s and 12 s of wrk load at 4 connections), and prints
# (instructions of the long run - of the short run) / (requests of the long - short):
# start-up and shutdown cancel out. Also leaves the long run's profile for
# `callgrind_annotate`. Installs nginx, wrk and valgrind from Debian's packages if they
# are missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
UP=18181 GW=18183

. benches/common.sh
work=$(mktemp -d)

if [ "${1:-}" = --stack ]; then
  ensure_tools valgrind
  cargo build --profile profiling -q -p benches --example stack_instructions
  # Instructions of N requests: "bare" is the handler alone, "layers" the stack over it.
  count() {
    valgrind --tool=callgrind --callgrind-out-file="$work/stack.$1.$2" \
      target/profiling/examples/stack_instructions "$1" "$2" 2>&1 | awk '/Collected/ {print $4}'
  }
  declare -A per
  for mode in bare layers; do
    a=$(count $mode 5000)
    b=$(count $mode 15000)
    per[$mode]=$(( (b - a) / 10000 ))
    cp "$work/stack.$mode.15000" "target/callgrind.stack-$mode.out"
  done
  echo "${per[layers]} instructions per request through the stack, ${per[bare]} for the handler" \
    "alone: the layers add $(( per[layers] - per[bare] ))" \
    "(profiles: target/callgrind.stack-{bare,layers}.out)"
  exit 0
fi

ensure_tools nginx wrk valgrind
if [ "${1:-}" = --bare ]; then
  if [ $# -ge 2 ]; then
    BIN=$2
  else
    cargo build --profile profiling -q -p benches --bin bare-proxy
    BIN=target/profiling/bare-proxy
  fi
  ARGS=("127.0.0.1:$GW" "http://127.0.0.1:$UP" 1)
  NAME=bare-proxy
else
  if [ $# -ge 1 ]; then
    BIN=$1
  else
    cargo build --profile profiling -q -p gateway-example
    BIN=target/profiling/gateway
  fi
  ARGS=(--config "$work/gateway.yaml")
  NAME=gateway
fi

cleanup() {
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  pkill -f "callgrind-out-file=$work" 2>/dev/null || true
}
trap cleanup EXIT

write_upstream_conf "$work" "$UP" "$BENCH_ANSWER"
cat > "$work/gateway.yaml" <<CONF
server: {listen: "127.0.0.1:$GW", workers: 1}
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$UP", api_key: sk-bench}
CONF
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}]}'
LUA
nginx -c "$work/up.conf" -p "$work"

# One run: prints "requests instructions".
run() {
  local secs=$1 out="$work/callgrind.$1"
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "${ARGS[@]}" \
    >/dev/null 2>"$work/valgrind.$secs.log" &
  local pid=$!
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$GW) 2>/dev/null && break; sleep 0.1; done
  local reqs
  reqs=$(wrk -t1 -c4 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$GW/v1/chat/completions" | awk '/requests in/ {print $1}')
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$reqs $(awk '/Collected/ {print $4}' "$work/valgrind.$secs.log")"
}

read -r short_reqs short_ir < <(run 2)
read -r long_reqs long_ir < <(run 12)
mkdir -p target
cp "$work/callgrind.12" "target/callgrind.$NAME.out"
python3 - "$NAME" "$short_reqs" "$short_ir" "$long_reqs" "$long_ir" \
  "$work/callgrind.2" "$work/callgrind.12" <<'PY'
import re, sys
name = sys.argv[1]
a_n, a_ir, b_n, b_ir = map(int, sys.argv[2:6])
print(f"{(b_ir - a_ir) / (b_n - a_n):,.0f} instructions per proxied request "
      f"({b_n - a_n} requests; profile: target/callgrind.{name}.out)")

# Heap allocations: the calls to Rust's allocator entry points (whichever global
# allocator is behind them), counted by callgrind exactly like the instructions.
ENTRY = re.compile(r"__rust_(alloc|alloc_zeroed|realloc)$")
def allocations(path):
    names, total, callee = {}, 0, ""
    with open(path) as f:
        for line in f:
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
            if m:
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                if line.startswith("cfn="):
                    callee = names.get(m.group(1), "")
            elif line.startswith("calls=") and ENTRY.search(callee):
                total += int(line[6:].split()[0])
    return total
per = (allocations(sys.argv[7]) - allocations(sys.argv[6])) / (b_n - a_n)
print(f"{per:.1f} heap allocations (and reallocations) per proxied request")
PY
