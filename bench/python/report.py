#!/usr/bin/env python3
"""Turn the JSON lines written by bench/run.sh into a markdown table (and an SVG plot).

Usage: report.py RESULTS.jsonl [--md OUT.md] [--svg OUT.svg] [--pick best|median]

The first line of the file is {"meta": {...}}; every other line is one loadgen
--json result with "server", "round" and "rss_kb" added. With several rounds
each row is the round with the highest rps (--pick best, the default: on a
host that steals time the best run is the most repeatable one) or each figure
the median over the rounds (--pick median). Ratios are to the raw mio loop
("mio") and to tokio current_thread ("tokio") in the same grid cell.
"""

import argparse
import json
import statistics
import sys
from html import escape

REF_MIO = "mio"
REF_TOKIO = "tokio"


def load(path):
    meta, rows = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                print(f"report.py: skipping bad line: {line[:80]}", file=sys.stderr)
                continue
            if "meta" in d:
                meta = d["meta"]
            else:
                rows.append(d)
    return meta, rows


def per_req(value, completed, scale):
    if value is None or not completed:
        return None
    return value * scale / completed


def figures(run, clk_tck):
    """The derived figures of one loadgen run."""
    n = run.get("completed") or 0
    tick_us = 1e6 / clk_tck
    window = run.get("window_s") or 0
    cu, cs = run.get("client_user_ticks"), run.get("client_sys_ticks")
    client = None
    if cu is not None and cs is not None and window > 0:
        client = (cu + cs) / clk_tck / window
    rss = run.get("rss_kb")
    server = None
    if run.get("server_cpu_ns") is not None and window > 0:
        server = run["server_cpu_ns"] / 1e9 / window
    return {
        "rps": run.get("rps"),
        "p50": run.get("p50_us"),
        "p99": run.get("p99_us"),
        "p999": run.get("p999_us"),
        "usr": per_req(run.get("server_user_ticks"), n, tick_us),
        "sys": per_req(run.get("server_sys_ticks"), n, tick_us),
        "cpu": per_req(run.get("server_cpu_ns"), n, 1e-3),
        "rss": rss / 1024 if rss is not None else None,
        "client": client,
        "server_util": server,
        "conns": run.get("conns") or 0,
        "completed": n,
        "errors": (run.get("errors") or 0) + (run.get("connect_errors") or 0),
        "first_error": run.get("first_error"),
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(rows, clk_tck, pick):
    """{(conns, size): {server: figures}} over the rounds (best or median),
    the server and cell orders of first appearance, and every round's own
    figures as {(conns, size): {server: {round: figures}}}."""
    groups, servers, cells, rounds = {}, [], [], {}
    for r in rows:
        key = (r["conns"], r["size"])
        if key not in cells:
            cells.append(key)
        if r["server"] not in servers:
            servers.append(r["server"])
        f = figures(r, clk_tck)
        groups.setdefault(key, {}).setdefault(r["server"], []).append(f)
        rounds.setdefault(key, {}).setdefault(r["server"], {})[r.get("round", 1)] = f
    table = {}
    for key, by_server in groups.items():
        for server, runs in by_server.items():
            if pick == "best":
                agg = dict(max(runs, key=lambda f: f["rps"] or 0))
            else:
                agg = {k: median([f[k] for f in runs]) for k in runs[0] if k != "first_error"}
            agg["errors"] = sum(f["errors"] for f in runs)
            agg["first_error"] = next((f["first_error"] for f in runs if f["first_error"]), None)
            agg["rounds"] = len(runs)
            table.setdefault(key, {})[server] = agg
    cells.sort()
    return table, servers, cells, rounds


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 10000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_ratio_pair(v, cell, key):
    mio = cell.get(REF_MIO, {}).get(key)
    tok = cell.get(REF_TOKIO, {}).get(key)
    return f"{fmt(ratio(v, mio), 2)} / {fmt(ratio(v, tok), 2)}"


def size_label(size):
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def stalled(f):
    """Neither side was busy for much of a many-connection run: the time went
    somewhere else (on a VM, usually to the host)."""
    s, c = f.get("server_util"), f.get("client")
    return f["conns"] >= 50 and s is not None and c is not None and max(s, c) < 0.8


def markdown(meta, table, servers, cells, pick, rounds):
    out = []
    out.append("# Echo benchmark")
    out.append("")
    out.append(
        f"{meta.get('date', '?')} · {meta.get('cpu', '?')} × {meta.get('ncpu', '?')} · "
        f"{meta.get('kernel', '?')} · Python {meta.get('python', '?')} · "
        f"{meta.get('duration_s', '?')} s measured after {meta.get('warmup_s', '?')} s warm-up, "
        f"{meta.get('repeat', 1)} round(s) ({'best' if pick == 'best' else 'medians'}) · "
        "server on CPU 0, load on CPU 1"
    )
    lost = meta.get("lost_pct")
    if lost:
        out.append("")
        out.append(
            f"Before the run a busy loop on each CPU saw {lost[0]} % / {lost[1]} % of wall time "
            "taken away (by the host): the higher, the noisier the figures."
        )
    out.append("")
    out.append(
        "Ratios are `×mio / ×tokio`: the figure divided by the raw mio loop's and by "
        "tokio current_thread's in the same cell. CPU per request is the server's; "
        "usr and sys come from `/proc/PID/stat` ticks, total from "
        "`/proc/PID/task/*/schedstat` (ns)."
    )
    out.append("")
    head = [
        "server", "conns", "size", "rps", "rps ×", "p50 µs", "p99 µs",
        "usr µs/req", "usr ×", "sys µs/req", "sys ×", "total µs/req", "total ×", "peak RSS MiB",
    ]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    notes = []
    for key in cells:
        cell = table[key]
        conns, size = key
        for server in servers:
            f = cell.get(server)
            if f is None:
                continue
            name = server
            if f["client"] is not None and f["client"] > 0.95:
                name += " †"
            if stalled(f):
                name += " §"
            if f["errors"]:
                name += " ‡"
                notes.append(f"{server} {conns}×{size}: {f['errors']} errors ({f['first_error']})")
            out.append(
                "| "
                + " | ".join(
                    [
                        name, str(conns), size_label(size),
                        fmt(f["rps"], 0), fmt_ratio_pair(f["rps"], cell, "rps"),
                        fmt(f["p50"]), fmt(f["p99"]),
                        fmt(f["usr"], 2), fmt_ratio_pair(f["usr"], cell, "usr"),
                        fmt(f["sys"], 2), fmt_ratio_pair(f["sys"], cell, "sys"),
                        fmt(f["cpu"], 2), fmt_ratio_pair(f["cpu"], cell, "cpu"),
                        fmt(f["rss"], 1),
                    ]
                )
                + " |"
            )
    marks = []
    if any("†" in line for line in out):
        marks.append("† the load generator used over 95 % of its core: the row may be client-bound.")
    if any("§" in line for line in out):
        marks.append(
            "§ neither the server nor the load generator was busy for most of the run: "
            "the time went elsewhere (host stalls on a VM); rps and p99 of that row are not "
            "the server's doing."
        )
    if notes:
        marks.append("‡ the run had connection errors:")
    if marks:
        out.append("")
        out.extend(marks)
        out.extend(f"- {n}" for n in notes)
    targets = target_checks(table, rounds)
    if targets:
        out.append("")
        out.append("## Targets (issue 5)")
        out.append("")
        out.append("\"each round\" is the ratio within one round: the servers of a round "
                   "run back to back and share its noise. CPU per request is judged on all "
                   "rounds pooled (\"pooled\": their CPU over their requests, since user "
                   f"time comes in 10 ms ticks); rps and p99, with {PAIRED_MIN_ROUNDS} or more "
                   "rounds, on the median of the per-round ratios (\"paired\"), otherwise "
                   "on the table's figures (\"table\"), which the second column shows.")
        out.append("")
        out.append("| target | table | judged | met | each round |")
        out.append("|---|---:|---:|:---:|---|")
        for desc, table_r, judged, ok, each in targets:
            out.append(f"| {desc} | {table_r} | {judged} | {'yes' if ok else '**no**'} "
                       f"| {each} |")
    return "\n".join(out) + "\n"


def paired_rounds(rounds, cell, server, ref):
    """(server's figures, ref's figures) for every round in which both ran."""
    by_round = rounds.get(cell, {})
    mine, theirs = by_round.get(server, {}), by_round.get(ref, {})
    return [(mine[n], theirs[n]) for n in sorted(mine) if n in theirs]


def round_ratios(pairs, key):
    """`key`'s ratio within each round of `pairs`."""
    out = [ratio(a.get(key), b.get(key)) for a, b in pairs]
    return [r for r in out if r is not None]


def pooled(figs, key):
    """A per-request figure over several rounds taken together: all the CPU
    they used over all the requests they served."""
    got = [(f[key], f["completed"]) for f in figs if f.get(key) is not None and f["completed"]]
    n = sum(c for _, c in got)
    return sum(v * c for v, c in got) / n if n else None


# CPU per request is judged on all the rounds pooled. User time comes from
# 10 ms ticks, and at 50 x 1 KiB a 3 s run of the mio loop spends only 4 to 11
# of them in user space, so one round's ratio is mostly rounding; pooling adds
# the ticks up before dividing. Rates and latencies are judged, from this many
# rounds on, on the median of their per-round ratios: the servers of one round
# run back to back and share its host noise, while the host drifts by ±20 %
# between rounds, and a ratio of two medians can pair one server's calm round
# with the other's disturbed one.
PAIRED_MIN_ROUNDS = 3
POOLED_KEYS = ("usr", "sys", "cpu")


def judge(pairs, key, table_ratio):
    """The ratio a target is judged on, and how it was taken."""
    if key in POOLED_KEYS and pairs:
        mine = pooled([a for a, _ in pairs], key)
        theirs = pooled([b for _, b in pairs], key)
        r = ratio(mine, theirs)
        if r is not None:
            return r, "pooled"
    each = round_ratios(pairs, key)
    if key not in POOLED_KEYS and len(each) >= PAIRED_MIN_ROUNDS:
        return median(each), "paired"
    return table_ratio, "table"


def target_checks(table, rounds):
    """The issue's speed targets that this run can judge, as (target, the
    table's ratio, the ratio judged, met, the ratio in each round)."""
    checks = []

    def add(desc, cell, server, ref, key, good):
        a = table.get(cell, {}).get(server, {}).get(key)
        b = table.get(cell, {}).get(ref, {}).get(key)
        r = ratio(a, b)
        if r is None:
            return
        pairs = paired_rounds(rounds, cell, server, ref)
        each = round_ratios(pairs, key)
        judged, how = judge(pairs, key, r)
        shown = f"{judged:.2f}× ({how})"
        each_s = " / ".join(fmt(x, 2) for x in each) or "–"
        checks.append((desc, f"{r:.2f}×", shown, good(judged), each_s))

    def at_most(limit):
        return lambda r: r <= limit

    mid = (50, 1024)
    add("protocol: usr CPU/req ≤ 1.25× mio (50×1 KiB)", mid, "aio-protocol", "mio", "usr",
        at_most(1.25))
    add("protocol: total CPU/req ≤ 1.05× mio (50×1 KiB)", mid, "aio-protocol", "mio", "cpu",
        at_most(1.05))
    add("streams: usr CPU/req ≤ 2× mio (50×1 KiB)", mid, "aio-streams", "mio", "usr",
        at_most(2.0))
    add("streams: usr CPU/req below tokio-lines (50×1 KiB)", mid, "aio-streams", "tokio-lines",
        "usr", lambda r: r < 1.0)
    add("sockets: total CPU/req ≤ tokio (50×1 KiB)", mid, "aio-sockets", "tokio", "cpu",
        at_most(1.0))
    big = (500, 16384)
    for server in ("aio-protocol", "aio-streams", "aio-sockets"):
        add(f"{server}: rps ≥ tokio (500×16 KiB)", big, server, REF_TOKIO, "rps",
            lambda r: r >= 1.0)
        add(f"{server}: p99 ≤ tokio (500×16 KiB)", big, server, REF_TOKIO, "p99", at_most(1.0))
    return checks


def svg(table, servers, cells):
    """Two bar charts (rps; CPU µs per request split usr/sys) for one cell."""
    key = (50, 1024) if (50, 1024) in table else max(cells, key=lambda k: len(table[k]))
    cell = table[key]
    names = [s for s in servers if s in cell]
    if not names:
        return None
    bar_h, gap, left, width = 18, 6, 150, 330
    chart_h = len(names) * (bar_h + gap)
    height = 60 + chart_h + 20
    total_w = left + width + 40 + left + width + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">Echo benchmark, '
        f"{key[0]} connections × {size_label(key[1])} (server on one core)</text>",
    ]

    def chart(x0, title, values, fmt_value, stacks=None):
        vmax = max((v for v in values if v), default=1) or 1
        parts.append(f'<text x="{x0 + left}" y="45" font-weight="bold">{escape(title)}</text>')
        for i, (name, v) in enumerate(zip(names, values)):
            y = 55 + i * (bar_h + gap)
            parts.append(
                f'<text x="{x0 + left - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(name)}</text>'
            )
            if v is None:
                continue
            w = v / vmax * width
            color = "#d62728" if name.startswith("aio") else "#1f77b4"
            if stacks and stacks[i] is not None:
                frac = stacks[i]
                parts.append(
                    f'<rect x="{x0 + left}" y="{y}" width="{w * frac:.1f}" height="{bar_h}" fill="{color}"/>'
                )
                parts.append(
                    f'<rect x="{x0 + left + w * frac:.1f}" y="{y}" width="{w * (1 - frac):.1f}" '
                    f'height="{bar_h}" fill="{color}" fill-opacity="0.4"/>'
                )
            else:
                parts.append(
                    f'<rect x="{x0 + left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>'
                )
            parts.append(f'<text x="{x0 + left + w + 4:.1f}" y="{y + bar_h - 5}">{fmt_value(v)}</text>')

    chart(0, "requests per second", [cell[n]["rps"] for n in names], lambda v: f"{v:,.0f}")
    fracs = []
    for n in names:
        u, s = cell[n]["usr"], cell[n]["sys"]
        fracs.append(u / (u + s) if u is not None and s is not None and u + s > 0 else None)
    chart(
        left + width + 60,
        "server CPU µs per request (dark: user, light: system)",
        [cell[n]["cpu"] for n in names],
        lambda v: f"{v:.2f}",
        fracs,
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("--md", help="also write the table here")
    p.add_argument("--svg", help="write a bar chart here")
    p.add_argument("--pick", choices=("best", "median"), default="best",
                   help="with several rounds: the best round, or medians")
    args = p.parse_args()
    meta, rows = load(args.results)
    if not rows:
        print("report.py: no results", file=sys.stderr)
        return 1
    table, servers, cells, rounds = aggregate(rows, meta.get("clk_tck") or 100, args.pick)
    md = markdown(meta, table, servers, cells, args.pick, rounds)
    sys.stdout.write(md)
    if args.md:
        with open(args.md, "w") as f:
            f.write(md)
    if args.svg:
        picture = svg(table, servers, cells)
        if picture:
            with open(args.svg, "w") as f:
                f.write(picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
