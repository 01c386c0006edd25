"""The hostile suite: each test attacks a real running station on loopback and asserts the fail-safe outcome.

Every test here starts processes or servers, so all are marked ``integration``.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/hostile/" in str(item.path):
            item.add_marker(pytest.mark.integration)
