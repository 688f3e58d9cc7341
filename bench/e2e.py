"""End-to-end benchmark: accept over HTTP → dispatch → SMPP → simulator → receipt → final status.

    python -m bench.e2e [--database-url postgresql://…] [--runs 3] [--messages 10000]
                        [--embedded-simulator] [--profile DIR]

Each run starts on a fresh database: the carrier simulator in its own process (``todoke
simulator``, as a carrier's SMSC is another machine; ``--embedded-simulator`` uses the one
``todoke serve`` starts by itself), ``todoke serve`` routed to it, then the load generator posts
``--messages`` single messages over HTTP (closed loop). Every destination ends in 9950, which
the simulator always delivers, so every message gets a receipt. The run ends when every
accepted message has its final status stored; the figure is

    accepted messages / (last final status stored - first message accepted)

from the stored timestamps, with the accept-to-final latency of each message. A run counts
only if every accepted message ended DELIVERED with a receipt stored for each of its parts.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Server,
    cpu_seconds,
    fresh_sqlite_url,
    load,
    machine,
    query,
    reset_postgres,
    route_to_simulator,
    simulator_stats,
    start_simulator,
    start_todoke,
    start_worker,
)

DELIVERED = "DELIVERED_TO_HANDSET"
FINAL_TIMEOUT = 300.0  # seconds to wait for the last final status after the load


def run_once(
    database_url: str | None,
    *,
    messages: int,
    connections: int,
    embedded: bool,
    profile: Path | None = None,
    final_timeout: float = FINAL_TIMEOUT,
    workers: int = 0,
) -> dict[str, Any]:
    url = database_url or fresh_sqlite_url()
    if url.startswith("postgres"):
        reset_postgres(url)
    sim: Server | None = None
    if not embedded:
        sim, smpp_port = start_simulator()
        route_to_simulator(url, smpp_port)
    # With workers, `todoke serve` only accepts and `todoke worker` processes dispatch: started
    # here beside it, or (embedded simulator) as its own supervised children, each running
    # the built-in simulator (TODOKE_DISPATCH_PROCESSES).
    if workers and embedded:
        env = {"TODOKE_DISPATCH_PROCESSES": str(workers)}
    elif workers:
        env = {"TODOKE_DISPATCH_ENABLED": "false"}
    else:
        env = {}
    server, token = start_todoke(url, **env)
    dispatchers = [] if embedded else [start_worker(url) for _ in range(workers)]
    spy: subprocess.Popen[bytes] | None = None
    try:
        if profile is not None:
            spy = start_profiler(server.proc.pid, profile, gil=True)
        supervised = _children(server.proc.pid) if workers and embedded else []
        children = supervised + [p.pid for p in dispatchers]
        workers_before = sum(cpu_seconds(pid) for pid in children)
        cpu_before = server.cpu_seconds()
        loop_before = server.cpu_seconds(main_thread=True)
        sim_cpu_before = sim.cpu_seconds() if sim is not None else 0.0
        run_id = secrets.token_hex(3)
        body = json.dumps(
            {"to": "090{n4}9950", "text": f"e2e {run_id} {{n}} 配信テスト"}, ensure_ascii=False
        )
        result = load(
            server.base + "/v1/messages",
            token,
            body,
            connections=connections,
            duration=3600,
            count=messages,
        )
        accepted = int(result["ok"])
        deadline = time.monotonic() + final_timeout
        while time.monotonic() < deadline:
            done = query(url, "SELECT count(*) FROM messages WHERE done_at IS NOT NULL")[0][0]
            if done >= accepted:
                break
            time.sleep(0.5)
        rss = server.rss_mb()
        cpu = server.cpu_seconds() - cpu_before
        cpu += sum(cpu_seconds(pid) for pid in children) - workers_before
        loop_cpu = server.cpu_seconds(main_thread=True) - loop_before
        sim_cpu = sim.cpu_seconds() - sim_cpu_before if sim is not None else 0.0
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            spy.wait(120)
            spy = None
        figures = _figures(url, accepted)
        figures["accept_rps"] = result["rps"]
        figures["rss_mb"] = rss
        figures["cpu_ms_per_msg"] = 1000 * cpu / max(1, accepted)
        figures["loop_cpu_ms_per_msg"] = 1000 * loop_cpu / max(1, accepted)
        figures["sim_cpu_ms_per_msg"] = 1000 * sim_cpu / max(1, accepted)
        if sim is not None:
            figures["simulator"] = simulator_stats(sim)
        return figures
    finally:
        if spy is not None:
            spy.kill()
        server.stop()
        for p in dispatchers:
            p.terminate()
            p.wait(30)
        if sim is not None:
            sim.stop()


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the serve's supervised workers), once they run."""
    for _ in range(100):
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if listed:
            return [int(p) for p in listed]
        time.sleep(0.1)
    return []


def _figures(url: str, accepted: int) -> dict[str, Any]:
    first, last, final = query(
        url,
        "SELECT min(created_at), max(done_at), count(done_at) FROM messages",
    )[0]
    statuses = dict(query(url, "SELECT status, count(*) FROM messages GROUP BY status"))
    receipts = query(
        url,
        "SELECT count(*) FROM attempt_parts WHERE receipt_at IS NOT NULL AND state = 'delivered'",
    )[0][0]
    parts = query(url, "SELECT coalesce(sum(parts), 0) FROM messages")[0][0]
    latencies = sorted(
        r[0]
        for r in query(url, "SELECT done_at - created_at FROM messages WHERE done_at IS NOT NULL")
    )
    seconds = max(0.001, ((last or 0) - (first or 0)) / 1000)

    def pct(p: float) -> float:
        return (
            float(latencies[min(len(latencies) - 1, int(p * len(latencies)))]) if latencies else 0
        )

    return {
        "accepted": accepted,
        "final": final,
        "delivered": statuses.get(DELIVERED, 0),
        "receipts": receipts,
        "parts": parts,
        "statuses": statuses,
        "seconds": seconds,
        "mps": final / seconds,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "complete": final == accepted and receipts == parts and statuses.get(DELIVERED) == final,
    }


def start_profiler(pid: int, out: Path, gil: bool = False) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (collapsed stacks in ``out``/profile.txt); see
    ``bench.profile`` for the summary. ``gil``: only the thread holding the GIL, which shows
    where Python spends CPU (SQLite's own work runs without it)."""
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: make bench installs it (the test extras)")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            *(["--gil"] if gil else []),
            "--output",
            str(out / "profile.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(
    database_url: str | None,
    *,
    runs: int = 3,
    messages: int = 10_000,
    connections: int = 32,
    embedded: bool = False,
    profile: Path | None = None,
    final_timeout: float = FINAL_TIMEOUT,
    workers: int = 0,
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """The table rows (medians of ``runs``) and every run's figures."""
    all_runs = [
        run_once(
            database_url,
            messages=messages,
            connections=connections,
            embedded=embedded,
            profile=profile if i == 0 else None,
            final_timeout=final_timeout,
            workers=workers,
        )
        for i in range(runs)
    ]
    backend = "PostgreSQL" if (database_url or "").startswith("postgres") else "SQLite"
    good = [r for r in all_runs if r["complete"]]
    where = "embedded simulator" if embedded else "simulator process"
    if workers:
        how = "supervised by serve" if embedded else "beside serve"
        where += f", dispatch in {workers} worker process{'es' if workers > 1 else ''} ({how})"
    name = f"end to end with receipts ({backend}, {where}, {messages:,} messages)"
    if not good:
        return [(name, "INCOMPLETE: " + json.dumps([_brief(r) for r in all_runs]))], all_runs
    med = statistics.median
    value = (
        f"{med(r['mps'] for r in good):,.0f} msg/s; accept→final p50 "
        f"{med(r['p50_ms'] for r in good):,.0f} ms, p99 {med(r['p99_ms'] for r in good):,.0f} ms; "
        f"server CPU {med(r['cpu_ms_per_msg'] for r in good):.2f} ms/msg "
        f"(event loop of serve {med(r['loop_cpu_ms_per_msg'] for r in good):.2f})"
    )
    if len(good) < len(all_runs):
        value += f" ({len(all_runs) - len(good)} incomplete runs left out)"
    return [(name, value)], all_runs


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("accepted", "final", "delivered", "receipts", "statuses")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--embedded-simulator", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the first run here")
    parser.add_argument("--final-timeout", type=float, default=FINAL_TIMEOUT)
    parser.add_argument("--verbose", action="store_true", help="print every run's figures")
    parser.add_argument(
        "--workers", type=int, default=0, help="dispatch in N `todoke worker` processes"
    )
    args = parser.parse_args()
    rows, runs = measure(
        args.database_url,
        runs=args.runs,
        messages=args.messages,
        connections=args.connections,
        embedded=args.embedded_simulator,
        profile=args.profile,
        final_timeout=args.final_timeout,
        workers=args.workers,
    )
    if args.verbose:
        for r in runs:
            print(json.dumps(r, ensure_ascii=False))
    print(f"\nmachine: {machine()}\n\n| benchmark | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
