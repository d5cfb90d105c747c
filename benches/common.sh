# Shared by the benchmark scripts (sourced, not run).

# Installs the given Debian packages if any of their commands is missing.
ensure_tools() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

# Writes DIR/NAME.conf: nginx with WORKERS worker processes (pid in DIR/NAME.pid, errors
# in DIR/NAME.err), no access log, keep-alive without a request cap, and the `http`
# block's directives SERVERS (upstreams and servers).
write_nginx_conf() {
  local dir=$1 name=$2 workers=$3 servers=$4
  cat > "$dir/$name.conf" <<CONF
worker_processes $workers;
pid $dir/$name.pid;
error_log $dir/$name.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
$servers
}
CONF
}

# Writes DIR/up.conf: one nginx worker on 127.0.0.1:PORT answering every request with
# the JSON BODY (pid in DIR/up.pid, errors in DIR/up.err).
write_upstream_conf() {
  local dir=$1 port=$2 body=$3
  write_nginx_conf "$dir" up 1 "  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '$body'; }
  }"
}

# The benchmark upstream's answer: a ~600-byte OpenAI chat completion, as long as a
# short real one, so the gateway's JSON work on it (validity check, usage, finish
# reasons) is what a real answer costs. Shared by e2e.sh and callgrind.sh.
BENCH_ANSWER='{"id":"chatcmpl-bench0000000000000000000000","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"This is a fixed answer from the benchmark upstream. It is about as long as a short real answer, so that the response is close to six hundred bytes in all, headers aside.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":42,"total_tokens":61},"system_fingerprint":"fp_bench"}'
