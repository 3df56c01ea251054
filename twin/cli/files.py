"""Output files of ``twin plan``, ``twin route`` and ``twin layout --out``: never destroy a
user's file.

An output path may be new, or hold a file of the same kind that ``twin`` wrote before (a plan,
routes, a layout drawing: recognised by its content), which is then replaced; any other file
is replaced only with ``--force``, and a folder never. Files are written atomically: a
temporary file beside the target, then one rename, so a reader sees the old file or the whole
new one and an interrupted write leaves the old file as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.cli.common import UserError

__all__ = [
    "check_output_file",
    "write_output",
    "replace_file",
    "is_plan_json",
    "is_result_json",
    "is_layout_html",
]

_SNIFF_BYTES = 2_000_000


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > 200_000_000:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_plan_json(path: Path) -> bool:
    """A plan ``twin plan --out`` wrote (operations and meta)."""
    data = _read_json(path)
    return isinstance(data, dict) and isinstance(data.get("operations"), list) and "meta" in data


def is_result_json(path: Path) -> bool:
    """A result ``twin plan --format``/``twin route --out`` wrote (a solve's JSON report)."""
    data = _read_json(path)
    return isinstance(data, dict) and "status" in data and ("routes" in data or "schedule" in data)


def is_layout_html(path: Path) -> bool:
    """A drawing ``twin layout`` wrote (a standalone Plotly HTML page)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    head = head.lstrip().lower()
    return head.startswith((b"<html", b"<!doctype html")) and b"plotly" in head


def check_output_file(
    option: str, path: Path, force: bool, ours: Callable[[Path], bool], what: str
) -> None:
    """UserError unless ``path`` may receive an output: refused if it is a folder, a symbolic
    link, inside a file, or an existing file that is not ``what`` twin wrote (``ours``),
    unless ``force``."""
    if path.is_symlink():
        raise UserError(
            f"{option} {path}: a symbolic link is there; expected a file name (twin replaces "
            "only files it wrote)"
        )
    if path.is_dir():
        raise UserError(f"{option} {path}: a folder is there; expected a file name")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{option} {path}: {parent} is a file, not a folder")
            break
    if path.exists() and not force and not ours(path):
        raise UserError(
            f"{option} {path}: a file is there that is not {what} twin wrote; --force replaces "
            "it (or choose another name)"
        )


def replace_file(tmp: Path, path: Path) -> None:
    """Move a finished temporary file onto ``path`` (one rename, readable as the user's
    other files)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, path)


def write_output(path: Path, text: str) -> None:
    """``text`` to ``path`` atomically (see the module docstring)."""
    from twin.store import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
