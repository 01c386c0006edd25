"""The station's helper tools, run from the repository root as ``python3 -m tools.NAME``."""
