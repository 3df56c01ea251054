"""Small helpers to read event logs in tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from twin.kpi import LogView
from twin.scenario import Scenario, load_dict


def load_data(path, **changes: Any) -> Scenario:
    """Load a YAML file, applying dotted-path changes first (``{"a.b": 1}``)."""
    data = yaml.safe_load(Path(path).read_text())
    for dotted, value in changes.items():
        cur = data
        keys = dotted.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})
        cur[int(keys[-1]) if isinstance(cur, list) else keys[-1]] = copy.deepcopy(value)
    return load_dict(data, str(path))


def events(table, kind: str) -> list[dict]:
    """Rows of one kind as dicts."""
    v = LogView(table)
    m = v.kind(kind)
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    return [{c: cols[c][i] for c in cols} for i in range(len(m)) if m[i]]
