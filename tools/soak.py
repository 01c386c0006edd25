"""Soak test: one station process replaying line footage in real time, round and round, for N minutes.

    python3 -m tools.soak --minutes 60 [--out soak.csv]

Composes a short conveyor video from the bundled sample photos, runs
``station replay VIDEO --realtime --set camera.loop=true``, samples the process's resident memory,
open file descriptors and threads every ``--every`` seconds from /proc, then sends SIGTERM and
checks for exit 0. Prints a JSON summary: memory growth after the first ``--warmup`` minutes,
and the fd and thread ranges. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from station.footage import Envelope, compose, labelled_photos
from station.gate import SAMPLE

ROOT = Path(__file__).resolve().parent.parent


def sample(pid: int) -> tuple[float, int, int]:
    """RSS in MB, open fds, threads of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mb = int(fields["VmRSS"].split()[0]) / 1024
    return rss_mb, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.soak", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=2.0, help="minutes before the memory baseline is taken")
    ap.add_argument("--out", type=Path, default=Path("soak.csv"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="station-soak-") as tmp:
        env = Envelope(width=960, height=540, fps=30.0, speed=12.0, diameter=260.0)
        video = compose(labelled_photos(SAMPLE), Path(tmp) / "line.mp4", env, seed=5)
        sets = ["camera.loop=true", "metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=null"]
        cmd = [sys.executable, "-m", "station.cli", "replay", str(video), "--realtime", "--no-progress"]
        cmd += [a for s in sets for a in ("--set", s)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows: list[tuple[float, float, int, int]] = []
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < args.minutes * 60 and proc.poll() is None:
                time.sleep(args.every)
                rows.append((round(time.monotonic() - t0, 1), *sample(proc.pid)))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = -9
    args.out.write_text("seconds,rss_mb,fds,threads\n" + "".join(f"{t},{r:.1f},{f},{n}\n" for t, r, f, n in rows))
    if not rows:  # the station ended before the first sample
        print(json.dumps({"minutes": 0, "exit_code": rc, "samples": 0}))
        return 1
    base = [r for r in rows if r[0] >= args.warmup * 60] or rows
    summary = {
        "minutes": round(rows[-1][0] / 60, 1) if rows else 0,
        "exit_code": rc,
        "rss_mb_after_warmup": round(base[0][1], 1),
        "rss_mb_end": round(rows[-1][1], 1),
        "rss_growth_mb": round(rows[-1][1] - base[0][1], 1),
        "fds": [min(r[2] for r in base), max(r[2] for r in base)],
        "threads": [min(r[3] for r in base), max(r[3] for r in base)],
    }
    print(json.dumps(summary))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
