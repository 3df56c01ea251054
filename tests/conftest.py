from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
DATA = REPO / "tests" / "data"
INSTANCES = REPO / "benchmarks" / "instances"


@pytest.fixture
def repo() -> Path:
    return REPO
