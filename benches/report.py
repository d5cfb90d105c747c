"""Turns the e2e benchmark's JSON lines into a Markdown table and an SVG chart.

usage: report.py RAW.jsonl OUT.md OUT.svg
"""

import json
import statistics
import sys
from collections import defaultdict

raw, out_md, out_svg = sys.argv[1:4]
rows = [json.loads(line) for line in open(raw) if line.strip().startswith("{")]
load = [r for r in rows if r["kind"] == "load"]
streams = {r["target"]: r for r in rows if r["kind"] == "stream"}
added = next((r for r in rows if r["kind"] == "stream_added" and r.get("target", "gateway") == "gateway"), None)
added_nginx = next((r for r in rows if r["kind"] == "stream_added" and r.get("target") == "nginx"), None)

setup = next((r for r in rows if r["kind"] == "setup"), None)
TARGETS = ["direct", "nginx", "nginx-1", "hyper", "gateway"]
groups = defaultdict(list)
for r in load:
    groups[(r["target"], r["connections"])].append(r)
conns = sorted({r["connections"] for r in load})


def summary(target, c):
    runs = groups[(target, c)]
    rps = [r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6) for r in runs]
    requests = sum(r["wrk"]["requests"] for r in runs)
    cpu_us = sum(r["cpu_ticks"] * 1e6 / r["clk_tck"] for r in runs)
    # Older runs have no user/system split.
    user_us = sum(r.get("user_ticks", 0) * 1e6 / r["clk_tck"] for r in runs)
    # Older runs have no machine-wide figures.
    sys_us = sum(r.get("system_ticks", 0) * 1e6 / r["clk_tck"] for r in runs)
    px_us = sum(r.get("proxy_cpus_ticks", 0) * 1e6 / r["clk_tck"] for r in runs)
    med = lambda key: statistics.median(r["wrk"][key] for r in runs)
    return {
        "rps": statistics.median(rps),
        "p50": med("p50_us"),
        "p99": med("p99_us"),
        "p999": med("p999_us"),
        "errors": sum(r["wrk"]["errors"] for r in runs),
        "cpu_per_req": cpu_us / requests if target != "direct" and requests else None,
        "user_per_req": user_us / requests if user_us and target != "direct" and requests else None,
        "sys_per_req": sys_us / requests if sys_us and requests else None,
        "px_per_req": px_us / requests if px_us and target != "direct" and requests else None,
        "rss_mb": max(r["peak_rss_kb"] for r in runs) / 1024 if target != "direct" else None,
        "sockets": max(r["upstream_sockets"] for r in runs),
        "rounds": len(runs),
    }


table = {(t, c): summary(t, c) for t in TARGETS for c in conns if groups[(t, c)]}
fmt = lambda v, f: "–" if v is None else f.format(v)

lines = ["# End-to-end benchmark", ""]
where = ""
if setup:
    where = (f" {setup['cpus']} cores: every proxy pinned (taskset) to CPUs {setup['proxy_cpus']} "
             f"with {setup['workers']} worker(s) (`nginx-1`: nginx with one), wrk and the upstream "
             f"pinned to CPUs {setup['load_cpus']}.")
lines.append(
    "Loopback, one machine: wrk → target → nginx upstream returning a fixed "
    f"~600-byte chat completion.{where} Medians over rounds; targets interleaved. "
    "CPU is the proxy's own (user + system of its processes) per request, `user` its user "
    "time alone (the proxy's code, without the kernel's socket work); `system CPU` is "
    "the whole machine's busy time per request (wrk and the upstream included; the kernel "
    "charges loopback receive work to the writer), `proxy cores` that of the proxy's cores "
    "alone; RSS is the proxy's peak. "
    "`hyper` is `bare-proxy`: the gateway's server loop, workers and upstream pool with "
    "none of its layers, no JSON and no routing.")
lines.append("")
lines.append("| target | conns | req/s | p50 µs | p99 µs | p99.9 µs | added p50 µs | added p99 µs | CPU µs/req | user µs/req | proxy cores µs/req | system CPU µs/req | peak RSS MB | upstream sockets | errors |")
lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in conns:
    direct = table.get(("direct", c))
    for t in TARGETS:
        s = table.get((t, c))
        if not s:
            continue
        add50 = s["p50"] - direct["p50"] if direct and t != "direct" else None
        add99 = s["p99"] - direct["p99"] if direct and t != "direct" else None
        lines.append(
            f"| {t} | {c} | {s['rps']:,.0f} | {s['p50']:,.0f} | {s['p99']:,.0f} | {s['p999']:,.0f} | "
            f"{fmt(add50, '{:,.0f}')} | {fmt(add99, '{:,.0f}')} | {fmt(s['cpu_per_req'], '{:.1f}')} | "
            f"{fmt(s['user_per_req'], '{:.1f}')} | {fmt(s['px_per_req'], '{:.1f}')} | {fmt(s['sys_per_req'], '{:.1f}')} | "
            f"{fmt(s['rss_mb'], '{:.1f}')} | {s['sockets']} | {s['errors']} |")
lines.append("")
lines.append("## Headline ratios (gateway vs nginx reverse proxy)")
lines.append("")
for ref in ["nginx", "nginx-1"]:
    for c in conns:
        g, n = table.get(("gateway", c)), table.get((ref, c))
        if g and n:
            system = ""
            if g["sys_per_req"] and n["sys_per_req"]:
                system = (f"; system CPU per request ×{g['sys_per_req'] / n['sys_per_req']:.2f} "
                          f"({g['sys_per_req']:.1f} vs {n['sys_per_req']:.1f} µs)")
            lines.append(
                f"- vs {ref}, {c} connections: throughput ×{g['rps'] / n['rps']:.2f} "
                f"({g['rps']:,.0f} vs {n['rps']:,.0f} req/s); CPU per request ×{g['cpu_per_req'] / n['cpu_per_req']:.2f} "
                f"({g['cpu_per_req']:.1f} vs {n['cpu_per_req']:.1f} µs){system}; p99 {g['p99']:,.0f} vs {n['p99']:,.0f} µs")
lines.append("")
lines.append("## The hyper floor (bare-proxy vs nginx, gateway vs bare-proxy)")
lines.append("")
for c in conns:
    g, h, n = table.get(("gateway", c)), table.get(("hyper", c)), table.get(("nginx", c))
    if g and h and n:
        lines.append(
            f"- {c} connections: bare-proxy throughput ×{h['rps'] / n['rps']:.2f} of nginx "
            f"(CPU {h['cpu_per_req']:.1f} µs/req); the gateway's layers, JSON and routing cost "
            f"{g['cpu_per_req'] - h['cpu_per_req']:+.1f} µs/req over it (CPU ×{g['cpu_per_req'] / h['cpu_per_req']:.2f}, "
            f"throughput ×{g['rps'] / h['rps']:.2f})")
if streams:
    lines.append("")
    lines.append("## Streaming (20 SSE events 5 ms apart)")
    lines.append("")
    lines.append("| target | streams | samples | first event p50 ms | first event p99 ms | total p50 ms | total p99 ms |")
    lines.append("|---|---|---|---|---|---|---|")
    for t in ["direct", "nginx", "gateway"]:
        s = streams.get(t)
        if s:
            lines.append(f"| {t} | {s['streams']} | {s['samples']} | {s['ttfe_p50_ms']:.3f} | {s['ttfe_p99_ms']:.3f} | {s['total_p50_ms']:.3f} | {s['total_p99_ms']:.3f} |")
    if added:
        lines.append("")
        lines.append(f"Time to first event added by the gateway (p50): **{added['ttfe_p50_added_ms']:.3f} ms**.")
    if added_nginx:
        lines.append(f"By nginx as a reverse proxy with buffering off, for reference: {added_nginx['ttfe_p50_added_ms']:.3f} ms.")
lines.append("")
lines.append("![throughput and p99 latency](latest.svg)")
open(out_md, "w").write("\n".join(lines) + "\n")

# --- SVG: throughput and p99 latency, grouped bars per concurrency ---
W, H, PAD = 900, 380, 50
COLORS = {"direct": "#9e9e9e", "nginx": "#2e7d32", "nginx-1": "#81c784", "hyper": "#ef6c00", "gateway": "#1565c0"}
panel_w = (W - 3 * PAD) / 2


def panel(x0, title, key, unit):
    parts = [f'<text x="{x0 + panel_w / 2}" y="24" text-anchor="middle" font-size="15">{title}</text>']
    values = [table[k][key] for k in table]
    top = max(values) * 1.1 if values else 1
    base = H - PAD
    parts.append(f'<line x1="{x0}" y1="{base}" x2="{x0 + panel_w}" y2="{base}" stroke="#333"/>')
    gw = panel_w / max(len(conns), 1)
    bw = gw / (len(TARGETS) + 1)
    for i, c in enumerate(conns):
        for j, t in enumerate(TARGETS):
            s = table.get((t, c))
            if not s:
                continue
            h = (H - 2 * PAD) * s[key] / top
            x = x0 + i * gw + (j + 0.5) * bw
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bw * 0.9:.1f}" height="{h:.1f}" fill="{COLORS[t]}"/>')
            parts.append(f'<text x="{x + bw * 0.45:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" font-size="9">{s[key]:,.0f}</text>')
        parts.append(f'<text x="{x0 + (i + 0.5) * gw:.1f}" y="{base + 18}" text-anchor="middle" font-size="12">{c} conns</text>')
    parts.append(f'<text x="{x0}" y="{base + 36}" font-size="11">{unit}</text>')
    return parts


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">',
       f'<rect width="{W}" height="{H}" fill="white"/>']
svg += panel(PAD, "Throughput (req/s, higher is better)", "rps", "requests per second")
svg += panel(2 * PAD + panel_w, "p99 latency (µs, lower is better)", "p99", "microseconds")
for j, t in enumerate(TARGETS):
    svg.append(f'<rect x="{W - 500 + j * 100}" y="{H - 16}" width="12" height="12" fill="{COLORS[t]}"/>')
    svg.append(f'<text x="{W - 484 + j * 100}" y="{H - 6}" font-size="12">{t}</text>')
svg.append("</svg>")
open(out_svg, "w").write("\n".join(svg) + "\n")
