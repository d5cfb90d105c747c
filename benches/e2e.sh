#!/usr/bin/env bash
# End-to-end load benchmark on loopback: the same fixed upstream (nginx returning a
# ~600-byte chat completion) reached directly, through nginx as a keepalive reverse
# proxy (with as many workers as the gateway, and with one), through `bare-proxy` (the
# gateway's server and upstream pool with none of its layers) and through the gateway
# (release build, JSON `model` routing and admission in the path); wrk at several
# concurrency levels, targets interleaved, several rounds. Then a streaming run (20 SSE
# events 5 ms apart): time to first event, direct vs nginx vs gateway. Writes
# benches/results/latest.md and benches/results/latest.svg.
#
#   benches/e2e.sh [SECONDS_PER_RUN] [ROUNDS]        (defaults: 5 s, 3 rounds)
#   E2E_PROFILE=profiling benches/e2e.sh ...       (the `profiling` build's binaries)
#   STREAM_ROUNDS=N benches/e2e.sh ...             (rounds of 16 streams per target in
#                                                   the streaming run; default 60, ~25 s)
#
# Fair measurement: every target runs pinned (taskset) to the same cores, PROXY_CPUS
# (default: every core but the first), with as many workers as it has cores; wrk, the
# upstream and the streaming client run on LOAD_CPUS (default: the first core). Each
# run records the target's own CPU time (user + system of its processes) and the
# whole machine's busy time (/proc/stat, all cores, and the proxy cores alone): the
# kernel charges much of loopback's receive work to the writing process, so the
# per-process figure alone flatters a proxy that writes less.
#
# Installs nginx and wrk from Debian's packages if they are missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
CONCURRENCY=(16 64 256)
UP=18081 PROXY=18082 GW=18083 SSE=18084 SSE_PROXY=18085 BARE=18086 PROXY1=18087
NCPU=$(nproc)
LOAD_CPUS=${LOAD_CPUS:-0}
if [ "$NCPU" -ge 2 ]; then PROXY_CPUS=${PROXY_CPUS:-1-$((NCPU - 1))}; else PROXY_CPUS=${PROXY_CPUS:-0}; fi
# As many workers as the proxy cores (nproc counts the cores a process may run on).
WORKERS=$(taskset -c "$PROXY_CPUS" nproc)
on_load() { taskset -c "$LOAD_CPUS" "$@"; }
on_proxy() { taskset -c "$PROXY_CPUS" "$@"; }
TARGETS=(direct nginx)
[ "$WORKERS" -gt 1 ] && TARGETS+=(nginx-1)
TARGETS+=(hyper gateway)
work=$(mktemp -d)
results=benches/results
mkdir -p "$results"
raw="$work/raw.jsonl"
: > "$raw"

. benches/common.sh
ensure_tools nginx wrk
command -v taskset >/dev/null || ensure_tools util-linux
echo "load (wrk, upstream) on CPUs $LOAD_CPUS; proxies on CPUs $PROXY_CPUS with $WORKERS worker(s) each"

# E2E_PROFILE=profiling runs the `profiling` build instead: the same code as `release`
# with line tables, so one build serves this and `callgrind.sh`.
PROFILE=${E2E_PROFILE:-release}
cargo build --profile "$PROFILE" -q -p gateway-example -p benches
GATEWAY=target/$PROFILE/gateway
STREAM=target/$PROFILE/stream-bench
BARE_PROXY=target/$PROFILE/bare-proxy

pids=()
cleanup() {
  # Each was started through taskset in a subshell: its process is the child.
  for pid in "${pids[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  [ -f "$work/proxy.pid" ] && kill "$(cat "$work/proxy.pid")" 2>/dev/null || true
  [ -f "$work/proxy1.pid" ] && kill "$(cat "$work/proxy1.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

body=$BENCH_ANSWER

write_upstream_conf "$work" "$UP" "$body"
write_nginx_conf "$work" proxy "$WORKERS" "  upstream backend { server 127.0.0.1:$UP; keepalive 300; }
  server {
    listen 127.0.0.1:$PROXY;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }
  # The streaming reference: SSE passed on as it comes.
  upstream sse { server 127.0.0.1:$SSE; keepalive 300; }
  server {
    listen 127.0.0.1:$SSE_PROXY;
    location / {
      proxy_pass http://sse;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_buffering off;
    }
  }"
# The reference with one worker (only run when the gateway has more than one).
write_nginx_conf "$work" proxy1 1 "  upstream backend { server 127.0.0.1:$UP; keepalive 300; }
  server {
    listen 127.0.0.1:$PROXY1;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
cat > "$work/gateway.yaml" <<CONF
server: {listen: "127.0.0.1:$GW", workers: $WORKERS}
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$UP", api_key: sk-bench}
  - model_name: stream
    litellm_params: {model: openai/stream, api_base: "http://127.0.0.1:$SSE", api_key: sk-bench}
CONF
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}]}'
done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
LUA

on_load nginx -c "$work/up.conf" -p "$work"
on_proxy nginx -c "$work/proxy.conf" -p "$work"
[ "$WORKERS" -gt 1 ] && on_proxy nginx -c "$work/proxy1.conf" -p "$work"
RUST_LOG=warn on_proxy "$GATEWAY" --config "$work/gateway.yaml" >/dev/null 2>"$work/gateway.err" &
pids+=($!)
gw_pid=$!
on_proxy "$BARE_PROXY" "127.0.0.1:$BARE" "http://127.0.0.1:$UP" "$WORKERS" &
pids+=($!)
bare_pid=$!
on_load "$STREAM" upstream "$SSE" &
pids+=($!)
ports=($UP $PROXY $GW $SSE $SSE_PROXY $BARE)
[ "$WORKERS" -gt 1 ] && ports+=($PROXY1)
for port in "${ports[@]}"; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

# All processes of a target (nginx: master and workers).
procs() {
  case $1 in
    nginx) echo "$(cat "$work/proxy.pid") $(pgrep -P "$(cat "$work/proxy.pid")" | tr '\n' ' ')" ;;
    nginx-1) echo "$(cat "$work/proxy1.pid") $(pgrep -P "$(cat "$work/proxy1.pid")" | tr '\n' ' ')" ;;
    # Started through taskset in a subshell: the process is its child.
    gateway) echo "$gw_pid $(pgrep -P "$gw_pid" | tr '\n' ' ')" ;;
    hyper) echo "$bare_pid $(pgrep -P "$bare_pid" | tr '\n' ' ')" ;;
    *) echo "" ;;
  esac
}
ticks() { local t=0; for p in $(procs "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
# User time alone: what the proxy's own code costs, apart from the kernel's socket work.
user_ticks() { local t=0; for p in $(procs "$1"); do t=$((t + $(awk '{print $14}' "/proc/$p/stat"))); done; echo $t; }
# Busy time of the whole machine, and of the proxy cores alone, in ticks (/proc/stat:
# all but idle and iowait).
busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proxy_cpu_list=$(taskset -c "$PROXY_CPUS" python3 -c 'import os; print(" ".join(f"cpu{c}" for c in sorted(os.sched_getaffinity(0))))')
proxy_busy() {
  awk -v cpus=" $proxy_cpu_list " 'index(cpus, " " $1 " ") {t += $2 + $3 + $4 + $7 + $8 + $9} END {print t}' /proc/stat
}
hwm() { local k=0; for p in $(procs "$1"); do k=$((k + $(awk '/VmHWM/ {print $2}' "/proc/$p/status"))); done; echo $k; }
upstream_sockets() { ss -Htn state established "( dport = :$UP )" | wc -l; }
url() {
  case $1 in
    direct) echo "http://127.0.0.1:$UP/chat/completions" ;;
    nginx) echo "http://127.0.0.1:$PROXY/chat/completions" ;;
    nginx-1) echo "http://127.0.0.1:$PROXY1/chat/completions" ;;
    gateway) echo "http://127.0.0.1:$GW/v1/chat/completions" ;;
    hyper) echo "http://127.0.0.1:$BARE/chat/completions" ;;
  esac
}

clk=$(getconf CLK_TCK)
for target in "${TARGETS[@]}"; do on_load wrk -t2 -c16 -d1s -s "$work/post.lua" "$(url $target)" >/dev/null; done
echo "{\"kind\":\"setup\",\"cpus\":$NCPU,\"load_cpus\":\"$LOAD_CPUS\",\"proxy_cpus\":\"$PROXY_CPUS\",\"workers\":$WORKERS}" >> "$raw"
for round in $(seq "$ROUNDS"); do
  for c in "${CONCURRENCY[@]}"; do
    for target in "${TARGETS[@]}"; do
      before=$(ticks $target) user_before=$(user_ticks $target) sys_before=$(busy) px_before=$(proxy_busy)
      out=$(on_load wrk -t2 -c"$c" -d"${SECS}s" -s "$work/post.lua" "$(url $target)" | tail -n 1)
      after=$(ticks $target) user_after=$(user_ticks $target) sys_after=$(busy) px_after=$(proxy_busy)
      sockets=$(upstream_sockets)
      echo "{\"kind\":\"load\",\"round\":$round,\"target\":\"$target\",\"connections\":$c,\"cpu_ticks\":$((after - before)),\"user_ticks\":$((user_after - user_before)),\"system_ticks\":$((sys_after - sys_before)),\"proxy_cpus_ticks\":$((px_after - px_before)),\"clk_tck\":$clk,\"peak_rss_kb\":$(hwm $target),\"upstream_sockets\":$sockets,\"wrk\":$out}" >> "$raw"
      echo "round $round c=$c $target: $out"
    done
  done
done

# Many rounds: a stream's first event is a fraction of a millisecond, and 320 samples
# left ±0.3 ms between runs, more than the gap the target allows.
on_load "$STREAM" measure "http://127.0.0.1:$SSE/chat/completions" "http://127.0.0.1:$GW/v1/chat/completions" 16 "${STREAM_ROUNDS:-60}" \
  "http://127.0.0.1:$SSE_PROXY/chat/completions" | tee -a "$raw"

python3 benches/report.py "$raw" "$results/latest.md" "$results/latest.svg"
cp "$raw" "$results/latest.jsonl"
echo "wrote $results/latest.md and $results/latest.svg"
