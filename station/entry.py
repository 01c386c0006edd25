"""The ``station`` command's entry point: signal handlers first, then everything else."""

from __future__ import annotations

from station.signals import SIGNALS


def main() -> int:
    SIGNALS.install()  # before the heavy imports below: an early SIGHUP or SIGTERM is never fatal
    from station.cli import main as cli_main

    return cli_main()
