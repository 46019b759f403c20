#!/usr/bin/env python3
"""Attribute a `perf record -g` profile of the daemon to the stages of an
invoice (issue 21, docs/BENCHMARKS.md "Per-invoice cost").

Each sample's call stack is given to the first stage one of whose frames it
holds (in the order below); what matches none is shown by its leaf caller.

  perf record -F 999 -g --call-graph dwarf,16384 -p $(pgrep -f 'pasarela run') -o d.data -- sleep 12
  python3 scripts/perf_attribute.py d.data
"""
import collections
import subprocess
import sys

STAGES = [
    ("certificate rendering", ["certificate::render", "krilla", "certificate::layout"]),
    ("SQLite (sqlx worker threads)", ["sqlx_sqlite", "sqlite3"]),
    ("PostgreSQL client", ["sqlx_postgres"]),
    ("SFTP and SSH", ["russh", "sftp::"]),
    ("atomic writes (results, PDFs)", ["write_atomic"]),
    ("staging and archiving moves", ["move_durable", "move_beneath", "archive_input", "intake::stage"]),
    ("reading inputs", ["tokio::fs::read", "std::fs::read"]),
    ("DIAN parse and validation", ["dian::", "pasarela::xml"]),
    ("pricing and catalog", ["rules::", "catalog::"]),
    ("outbox and SMTP", ["outbox::", "lettre"]),
    ("JSON", ["serde_json"]),
    ("logging", ["tracing"]),
    ("store (ours)", ["pasarela::store"]),
]


def main():
    data = sys.argv[1]
    perf = subprocess.Popen(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"],
                            stdout=subprocess.PIPE, text=True, errors="replace")
    shares = collections.Counter()
    total = 0
    stack = []

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        frames = "\n".join(stack)
        for name, keys in STAGES:
            if any(k in frames for k in keys):
                shares[name] += 1
                return
        if "finish_task_switch" in stack[0] or ("schedule" in frames and "park" in frames):
            shares["thread park/unpark (tokio, blocking pool)"] += 1
        else:
            shares["other: " + (stack[1] if len(stack) > 1 else stack[0])[:60]] += 1

    for line in perf.stdout:
        # A sample: a header line, then one tab-indented "address symbol" per frame.
        if not line.strip() or line[0] != "\t":
            flush()
            stack = []
            continue
        stack.append(line.strip().split(" ", 1)[-1])
    flush()
    for name, n in shares.most_common(20):
        print(f"{100 * n / max(total, 1):6.2f}%  {name}")


if __name__ == "__main__":
    main()
