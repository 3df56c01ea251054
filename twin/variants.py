"""Variants: a base scenario patched by a variant file and ``--set`` overrides.

A variant file is a partial scenario. It is deep-merged into the base: mappings merge key by
key, lists of mappings whose items all carry an ``id`` merge item by item (matching ids are
merged, new ids are appended), every other list or value replaces the base's. Several variant
files stack: each is merged into the result of the ones before it.

An override is ``dotted.path=value``. The value is read as YAML with the safe loader
(``2``, ``2h``, ``true``, ``{dist: exponential, mean: 200h}``). The path walks mappings by key
and lists by ``id`` (or ``name``, for recipe steps) or by index (``orders[2]`` or
``orders.2``). A path that neither exists in the base nor names a scenario field is refused
before anything runs.

The patched data is validated exactly like a scenario file (``load_dict``): any problem is a
:class:`~twin.scenario.ScenarioError` that names the variant file or the ``--set`` option
responsible and the path inside the scenario.
"""

from __future__ import annotations

import copy
import itertools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel

from twin.scenario import Scenario, ScenarioError, load_dict, load_yaml_text, read_yaml

__all__ = [
    "Override",
    "Variant",
    "deep_merge",
    "parse_override",
    "parse_grid",
    "parse_point",
    "resolve",
    "resolve_many",
    "sweep_points",
]

Segment = str | int


@dataclass(frozen=True)
class Override:
    """One ``--set`` assignment: ``path`` (segments) and the parsed ``value``."""

    text: str
    path: tuple[Segment, ...]
    value: Any
    option: str = "--set"

    @property
    def source(self) -> str:
        return f"{self.option} {self.text}"

    @property
    def dotted(self) -> str:
        return _format_path(self.path)


@dataclass(frozen=True)
class Variant:
    """A resolved, validated scenario and where it came from."""

    name: str
    scenario: Scenario
    base: str
    file: str | None = None
    overrides: tuple[str, ...] = ()

    def data(self) -> dict[str, Any]:
        """The resolved scenario as plain data (what workers receive and the store keeps)."""
        return self.scenario.to_dict()


# --------------------------------------------------------------------------- parsing
def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets, braces and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def _parse_path(text: str, source: str) -> tuple[Segment, ...]:
    segs: list[Segment] = []
    for raw in text.split("."):
        name, _, rest = raw.partition("[")
        if name:
            segs.append(name)
        elif not rest:
            raise ScenarioError(
                source, text, text, "a dotted path without empty parts, e.g. units.press_1.count"
            )
        while rest:
            idx, close, rest = rest.partition("]")
            if not close or not idx.strip().isdigit() or (rest and not rest.startswith("[")):
                raise ScenarioError(source, text, text, "list indices written as [0], [1], ...")
            segs.append(int(idx))
            rest = rest[1:]
    if not segs:
        raise ScenarioError(source, "", text, "a dotted path, e.g. units.press_1.count")
    return tuple(segs)


def _parse_value(text: str, source: str) -> Any:
    return load_yaml_text(text, source)


def parse_override(text: str, option: str = "--set") -> Override:
    """``"units.press_1.count=2"`` -> Override (syntax only; the path is checked on apply)."""
    path_text, eq, value_text = text.partition("=")
    source = f"{option} {text}"
    if not eq or not path_text.strip():
        raise ScenarioError(source, "", text, "dotted.path=value, e.g. units.press_1.count=2")
    path = _parse_path(path_text.strip(), source)
    return Override(
        f"{_format_path(path)}={value_text.strip()}", path, _parse_value(value_text, source), option
    )


def parse_grid(text: str) -> list[Override]:
    """``"units.press_1.count=1,2,3"`` -> one Override per value (commas inside [] or {} kept)."""
    path_text, eq, values_text = text.partition("=")
    source = f"--grid {text}"
    if not eq or not path_text.strip():
        raise ScenarioError(
            source, "", text, "dotted.path=v1,v2,..., e.g. units.press_1.count=1,2,3"
        )
    path = _parse_path(path_text.strip(), source)
    values = [v.strip() for v in _split_top(values_text, ",")]
    if not any(values):
        raise ScenarioError(source, _format_path(path), values_text, "at least one value")
    dotted = _format_path(path)
    return [Override(f"{dotted}={v}", path, _parse_value(v, source), "--grid") for v in values]


def parse_point(text: str) -> list[Override]:
    """``"units.press_1.count=2; staff.operator.count=12"`` -> the Overrides of one point."""
    items = [s.strip() for s in _split_top(text, ";") if s.strip()]
    if not items:
        raise ScenarioError(f"--point {text}", "", text, "path=value assignments separated by ';'")
    return [parse_override(s, option="--point") for s in items]


def sweep_points(grids: Sequence[str], points: Sequence[str]) -> list[list[Override]]:
    """The cartesian product of the ``--grid`` options, then each ``--point``."""
    out: list[list[Override]] = []
    if grids:
        axes = [parse_grid(g) for g in grids]
        out.extend(list(combo) for combo in itertools.product(*axes))
    out.extend(parse_point(p) for p in points)
    return out


def _format_path(path: Iterable[Segment]) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else ("." if out else "") + seg
    return out


# --------------------------------------------------------------------------- merging
def _id_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, Mapping) and "id" in v for v in value)
    )


def deep_merge(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base`` (neither is modified). A distribution that names its
    family (a mapping with ``dist``) replaces the base's whole: a triangular patched with
    ``{dist: normal, mean, sd}`` must not keep its ``low``/``mode``/``high``; a patch without
    ``dist`` (``{mean: 5h}``) changes only what it names."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping) and "dist" not in patch:
        out = {k: copy.deepcopy(v) for k, v in base.items()}
        for k, v in patch.items():
            out[k] = deep_merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if _id_list(base) and _id_list(patch):
        merged = [copy.deepcopy(v) for v in base]
        where = {str(v["id"]): i for i, v in enumerate(merged)}
        for item in patch:
            i = where.get(str(item["id"]))
            if i is None:
                where[str(item["id"])] = len(merged)
                merged.append(copy.deepcopy(item))
            else:
                merged[i] = deep_merge(merged[i], item)
        return merged
    return copy.deepcopy(patch)


def _touched(patch: Any, prefix: tuple[Segment, ...] = ()) -> list[tuple[Segment, ...]]:
    """The leaf paths a variant file sets (for naming it in error messages)."""
    if isinstance(patch, Mapping) and patch:
        return [p for k, v in patch.items() for p in _touched(v, (*prefix, str(k)))]
    if _id_list(patch):
        return [p for v in patch for p in _touched(v, (*prefix, str(v["id"])))]
    return [prefix]


# --------------------------------------------------------------------------- schema walk
_OPAQUE = object()  # a place whose inner keys are not checked here (validation still is)


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        return _OPAQUE
    return tp


def _child_type(tp: Any, key: Segment) -> tuple[Any, list[str] | None]:
    """(type of ``key`` inside ``tp``, allowed keys if ``key`` is not a field of ``tp``)."""
    tp = _unwrap(tp)
    if tp is _OPAQUE or tp is Any:
        return _OPAQUE, None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if key in (name, field.alias):
                return field.annotation, None
        return None, sorted(f.alias or n for n, f in tp.model_fields.items())
    origin = typing.get_origin(tp)
    if origin in (dict, Mapping):
        return typing.get_args(tp)[1], None
    if origin in (tuple, list):
        return typing.get_args(tp)[0], None
    return None, []  # a scalar: nothing is inside it


def _index(node: list[Any], seg: Segment) -> int | None:
    if isinstance(seg, int):
        return seg if 0 <= seg < len(node) else None
    for ident in ("id", "name"):
        for i, item in enumerate(node):
            if isinstance(item, Mapping) and str(item.get(ident)) == seg:
                return i
    if seg.isdigit() and int(seg) < len(node):
        return int(seg)
    return None


def _list_names(node: list[Any]) -> str:
    names = [
        str(item.get("id", item.get("name")))
        for item in node
        if isinstance(item, Mapping) and ("id" in item or "name" in item)
    ]
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"an index 0..{len(node) - 1}" + (f" or one of: {shown}" if names else "")


def _find_key(node: Mapping[Any, Any], seg: str) -> Any:
    for k in node:
        if k == seg or str(k) == seg:
            return k
    return None


def apply_override(data: dict[str, Any], ov: Override) -> dict[str, Any]:
    """A copy of ``data`` with ``ov`` applied; unknown paths raise ScenarioError."""
    out = copy.deepcopy(data)
    node: Any = out
    tp: Any = Scenario
    for depth, seg in enumerate(ov.path):
        last = depth == len(ov.path) - 1
        here = _format_path(ov.path[: depth + 1])
        if isinstance(node, list):
            i = _index(node, seg)
            if i is None:
                raise ScenarioError(
                    ov.source, here, seg, f"no such list element; expected {_list_names(node)}"
                )
            tp, _ = _child_type(tp, 0)
            if last:
                node[i] = copy.deepcopy(ov.value)
            else:
                node = node[i]
            continue
        if not isinstance(node, dict):
            raise ScenarioError(
                ov.source,
                _format_path(ov.path[:depth]),
                node,
                "a plain value has no keys; set the whole value instead",
            )
        if isinstance(seg, int):
            raise ScenarioError(ov.source, here, seg, "a key (this place is a mapping, not a list)")
        child_tp, allowed = _child_type(tp, seg)
        key = _find_key(node, seg)
        if key is None and child_tp is None:
            expected = "unknown key" + (
                f"; expected one of: {', '.join(allowed)}" if allowed else ""
            )
            raise ScenarioError(ov.source, here, seg, expected)
        tp = child_tp
        if last:
            node[seg if key is None else key] = copy.deepcopy(ov.value)
        elif key is None:
            if typing.get_origin(_unwrap(child_tp)) in (tuple, list):
                raise ScenarioError(
                    ov.source, here, None, "no such list element; the base has no such list"
                )
            node[seg] = {}
            node = node[seg]
        else:
            node = node[key]
    return out


# --------------------------------------------------------------------------- resolving
def _path_segments(path: str) -> list[str]:
    segs: list[str] = []
    for part in path.replace("[", ".[").split("."):
        if part:
            segs.append(part)
    return segs


@dataclass(frozen=True)
class _Source:
    """One patch applied to the base: its name, the paths it sets, the data after it."""

    name: str
    paths: list[tuple[Segment, ...]]
    data: dict[str, Any]


def _blame(err: ScenarioError, sources: list[_Source], base: str) -> str:
    """The patch responsible for a validation error: the one whose paths share the longest
    prefix with the error's path; failing that, the first after which validation fails."""
    target = _path_segments(err.path)
    best, best_len = None, 0
    for src in sources:
        for p in src.paths:
            n = 0
            for a, b in zip(_path_segments(_format_path(p)), target, strict=False):
                if a != b:
                    break
                n += 1
            if n >= best_len and n > 0:
                best, best_len = src.name, n
    if best is not None:
        return best
    for src in sources[:-1]:
        try:
            load_dict(src.data, base)
        except ScenarioError:
            return src.name
    return sources[-1].name


def _validate(data: dict[str, Any], base: str, sources: list[_Source]) -> Scenario:
    try:
        return load_dict(data, base)
    except ScenarioError as exc:
        if not sources:
            raise
        name = _blame(exc, sources, base)
        raise ScenarioError(name, exc.path, exc.value, exc.expected) from None


VariantFiles = str | Path | Sequence[str | Path] | None


def _variant_files(variant: VariantFiles) -> list[str]:
    if variant is None:
        return []
    if isinstance(variant, str | Path):
        return [str(variant)]
    return [str(v) for v in variant]


def resolve(
    base: str | Path,
    variant: VariantFiles = None,
    overrides: Sequence[str | Override] = (),
    name: str | None = None,
    *,
    base_data: dict[str, Any] | None = None,
) -> Variant:
    """The validated scenario of ``base`` patched by a variant file (or several, stacked in
    order), then by overrides."""
    base = str(base)
    data = base_data if base_data is not None else _read_base(base)
    files = _variant_files(variant)
    sources: list[_Source] = []
    for file in files:
        patch = read_yaml(file)
        data = deep_merge(data, patch)
        sources.append(_Source(f"{file} (variant of {base})", _touched(patch), data))
    ovs = [o if isinstance(o, Override) else parse_override(o) for o in overrides]
    for ov in ovs:
        data = apply_override(data, ov)
        sources.append(_Source(ov.source, [ov.path], data))
    scenario = _validate(data, base, sources)
    if name is None:
        parts = [Path(f).stem for f in files]
        name = ", ".join(parts + [o.text for o in ovs]) or "base"
    return Variant(name, scenario, base, ", ".join(files) or None, tuple(o.text for o in ovs))


def _read_base(base: str) -> dict[str, Any]:
    data = read_yaml(base)
    load_dict(data, base)  # problems of the base are named by the base file
    return data


def resolve_many(
    base: str | Path,
    points: Sequence[Sequence[Override]],
    variant: VariantFiles = None,
    overrides: Sequence[str | Override] = (),
) -> list[Variant]:
    """One variant per sweep point (each on top of ``variant`` and ``overrides``); all are
    validated before any is returned."""
    data = _read_base(str(base))
    common = [o if isinstance(o, Override) else parse_override(o) for o in overrides]
    out = []
    for point in points:
        label = ", ".join(o.text for o in point) or "base"
        out.append(resolve(base, variant, [*common, *point], name=label, base_data=data))
    return out
