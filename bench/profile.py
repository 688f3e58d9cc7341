"""Summarise a py-spy profile (``--format raw``: collapsed stacks, one ``a;b;c count`` a line).

    python -m bench.profile PROFILE.txt [--top 25] [--match todoke]

Prints the functions with the most samples on their own (self) and anywhere on the stack
(inclusive, counted once per sample), as a share of all samples. Idle samples (the event loop
waiting in select/epoll) are counted and reported apart, so that shares are of busy time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_IDLE = re.compile(r"\b(select|poll|epoll_wait|_run_once \(asyncio|run_forever)\b")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({file})"


# Where a sample belongs on the way of a message, by the first marker found in its stack.
_PATHS = (
    ("commit: receipts", "_receipts_handler (todoke/store"),
    ("commit: record submissions", "_submit_handler (todoke/store"),
    ("commit: accept", "_accept_handler (todoke/store"),
    ("commit: claim", "_claim_handler (todoke/store"),
    ("commit: begin attempts", "_begin_handler (todoke/store"),
    ("database driver and SQLAlchemy (any statement)", "greenlet"),
    ("HTTP accept (uvicorn, Litestar, /v1 handler)", "httptools_impl"),
    ("receipts in (SMPP deliver_sm, parse)", "InboundRouter"),
    ("dispatch: submit (SMPP encode, window)", "Dispatcher.send"),
    ("dispatch: claim and plan", "Dispatcher.claim"),
    ("SMPP read (frames, submit_sm_resp)", "data_received"),
)


def by_path(path: Path) -> str:
    """Samples grouped by the part of a message's way they belong to."""
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        total += int(count_text)
        name = next((n for n, marker in _PATHS if marker in stack), None)
        if name is None and ("sqlalchemy" in stack or "aiosqlite" in stack or "asyncpg" in stack):
            name = "database driver and SQLAlchemy (any statement)"
        counts[name or "other (event loop, timers, logging)"] += int(count_text)
    lines = [f"samples: {total}; share by path:"]
    lines += [f"  {n / max(1, total):6.1%}  {name}" for name, n in counts.most_common()]
    return "\n".join(lines)


def summarise(path: Path, top: int = 25, match: str = "") -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        if leaf.startswith(("select ", "poll ", "epoll_wait", "run ")) or "(selectors.py)" in leaf:
            idle += count
            continue
        self_time[leaf] += count
        for frame in set(frames):
            if match in frame:
                inclusive[frame] += count
    busy = max(1, total - idle)
    lines = [f"samples: {total}, idle (event loop waiting): {idle / max(1, total):.0%}", ""]
    lines.append("self time, share of busy samples:")
    lines += [f"  {n / busy:6.1%}  {f}" for f, n in self_time.most_common(top)]
    lines.append("")
    lines.append(f"inclusive{' (' + match + ')' if match else ''}, share of busy samples:")
    lines += [f"  {n / busy:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="todoke")
    parser.add_argument("--by-path", action="store_true", help="group by the message's path")
    args = parser.parse_args()
    if args.by_path:
        print(by_path(args.profile))
    else:
        print(summarise(args.profile, args.top, args.match))


if __name__ == "__main__":
    main()
