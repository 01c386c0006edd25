"""Offline commands, apart from the runtime: ``classify``, ``eval`` and ``demo`` (``teach`` is ``station.teach``).

They reuse the stages' handlers on photos or footage; none of them is part of the daemon.
"""
