"""The one error type of user input: a problem as one paragraph a user can act on."""

from __future__ import annotations

from typing import Any

__all__ = ["ScenarioError"]


class ScenarioError(ValueError):
    """A problem with a file or value the user gave: names the source (file or option), the
    path inside it (``products.tab_a.recipe[2].equipment_class``), the bad value and what was
    expected."""

    def __init__(self, source: str, path: str, value: Any, expected: str) -> None:
        self.source, self.path, self.value, self.expected = source, path, value, expected
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: bad value {_short(value)}: {expected}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
