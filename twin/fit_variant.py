"""The fitted values as a variant file: a partial scenario that ``twin.variants`` deep-merges
into the base (``twin run BASE --variant fitted.yaml``).

Two rules of ``twin.variants.deep_merge`` shape the file:

- a list of mappings without ``id`` (a recipe) replaces the base's list as a whole, so a fitted
  step duration or setup is written inside a full copy of its product's recipe (the other
  steps and fields copied from the base as they are);
- a distribution that names its family (``dist``) replaces the base's whole, so any family can
  be written over any other; :func:`writable_families` still merges a trial value with
  ``deep_merge`` itself and keeps only families that land exactly, so a change to the merge
  rules cannot make the fitter write a file that does not say what it fitted.

The file is written to a temporary name beside the target, read back, resolved against the
base with ``twin.variants`` and checked value by value before it is renamed into place.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import TypeAdapter

from twin.fit_events import FitError
from twin.scenario import ScenarioError, load_dict, read_yaml
from twin.units import Distribution
from twin.variants import deep_merge, resolve

if TYPE_CHECKING:
    from twin.fit import FitResult, QuantityFit

__all__ = [
    "writable_families",
    "build_patch",
    "describe",
    "variant_text",
    "write_variant",
    "write_text_atomic",
]

Segments = tuple[str | int, ...]
_DIST = TypeAdapter(Distribution)
_MISSING = object()
_TRIAL = {
    "exponential": {"mean": 2.0},
    "lognormal": {"mean": 2.0, "sd": 1.0},
    "normal": {"mean": 2.0, "sd": 1.0},
    "triangular": {"low": 1.0, "mode": 2.0, "high": 3.0},
    "uniform": {"low": 1.0, "high": 3.0},
    "empirical": {"values": [1.0, 2.0], "weights": [0.5, 0.5]},
}


# --------------------------------------------------------------------------- patch
def _raw(data: Any, path: Segments) -> Any:
    node = data
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(node, list) or not 0 <= seg < len(node):
                return _MISSING
            node = node[seg]
        else:
            if not isinstance(node, Mapping) or seg not in node:
                return _MISSING
            node = node[seg]
    return node


def _padded(base_leaf: Any, value: Any) -> Any:
    """``value`` with the base's extra normal keys neutralised (low 0, high none: the twin's
    defaults, and the truncation the fit assumed)."""
    if isinstance(value, dict) and value.get("dist") == "normal" and isinstance(base_leaf, Mapping):
        value = dict(value)
        if "low" in base_leaf:
            value["low"] = 0.0
        if "high" in base_leaf:
            value["high"] = None
    return value


def _put(tree: dict[str, Any], path: Segments, value: Any) -> None:
    node = tree
    for seg in path[:-1]:
        node = node.setdefault(seg, {})  # type: ignore[assignment]
    node[path[-1]] = value  # type: ignore[index]


def build_patch(base: Mapping[str, Any], items: list[tuple[Segments, Any]]) -> dict[str, Any]:
    """The variant data setting each ``(path, value)``: recipes as full copies, a product's
    QC as a copy of the plant's when the product has none of its own."""
    patch: dict[str, Any] = {}
    for path, value in items:
        value = _padded(_raw(base, path), copy.deepcopy(value))
        if len(path) == 5 and path[0] == "products" and path[2] == "recipe":
            _, p, _, k, key = path
            prod = patch.setdefault("products", {}).setdefault(p, {})
            if "recipe" not in prod:
                prod["recipe"] = copy.deepcopy(list(base["products"][p]["recipe"]))
            prod["recipe"][k][key] = value
        elif len(path) == 4 and path[0] == "products" and path[2] == "qc":
            p = path[1]
            prod = patch.setdefault("products", {}).setdefault(p, {})
            if "qc" not in prod:
                own = _raw(base, ("products", p, "qc"))  # None in a dumped Scenario
                plant = copy.deepcopy(dict(base["qc"])) if own in (_MISSING, None) else {}
                prod["qc"] = plant
            prod["qc"][path[3]] = value
        else:
            _put(patch, path, value)
    return patch


def _lands(base: Mapping[str, Any], path: Segments, value: Any) -> bool:
    """Whether merging ``value`` at ``path`` gives exactly that distribution."""
    patch = build_patch(base, [(path, value)])
    top = str(path[0])
    merged = deep_merge({top: base[top]} if top in base else {}, patch)
    try:
        return _DIST.validate_python(_raw(merged, path)) == _DIST.validate_python(
            _padded(_raw(base, path), value)
        )
    except ValueError:
        return False


def writable_families(base: Mapping[str, Any], path: Segments) -> Callable[[str], bool]:
    """A test of which families a variant can write at ``path`` over the base."""
    cache: dict[str, bool] = {}

    def ok(name: str) -> bool:
        if name not in cache:
            cache[name] = name == "fixed" or _lands(base, path, {"dist": name, **_TRIAL[name]})
        return cache[name]

    return ok


# --------------------------------------------------------------------------- text
def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**9)
    text = text.strip()
    return text[: -len("...")].strip() if text.endswith("\n...") or text.endswith("...") else text


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def describe(q: QuantityFit, alpha: float, bootstrap: int, criterion: str) -> list[str]:
    """The comment lines of one written value."""
    cens = []
    if q.n_right:
        cens.append(f"{q.n_right} right-censored")
    if q.n_left:
        cens.append(f"{q.n_left} left-censored")
    head = f"n={q.n}" + (f" ({', '.join(cens)})" if cens else "") + f"; {q.family}"
    if q.family in ("fixed", "empirical"):
        lines = [
            head + (" (all values equal)" if q.family == "fixed" else " (observed frequencies)")
        ]
    else:
        ranked = [c for c in q.candidates if c.loglik > -float("inf")]
        score = (lambda c: c.bic) if criterion == "bic" else (lambda c: c.aic)
        chosen = next((c for c in ranked if c.family == q.family), None)
        others = [c for c in ranked if c.family != q.family][:2]
        if chosen is not None:
            head += f" by {criterion.upper()} {score(chosen):.1f}"
            if others:
                head += (
                    " ("
                    + ", ".join(f"{c.family} {score(c) - score(chosen):+.1f}" for c in others)
                    + ")"
                )
        lines = [head]
        pars = []
        for name, value in q.params.items():
            ci = q.ci.get(name)
            pars.append(
                f"{name} {_fmt(value)}" + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
            )
        level = f"{100 * (1 - alpha):g}% basic bootstrap CI, B={bootstrap}" if q.ci else "no CI"
        lines.append(", ".join(pars) + f" ({level})")
        if q.gof is not None:
            lines[-1] += f"; {q.gof.statistic} p={q.gof.p_value:.3g}"
    if q.naive_mean is not None and q.mean is not None:
        lines.append(
            f"mean {_fmt(q.mean)} censored ML vs {_fmt(q.naive_mean)} naive (uncensored only)"
        )
    lines.extend(n for n in q.notes if "prefers" in n or "rejected" in n or "one factor" in n)
    return lines


def variant_text(result: FitResult) -> str:
    items = [(q.segments, q.written) for q in result.quantities if q.written is not None]
    patch = build_patch(result.base_data, items)
    comments: dict[Segments, list[str]] = {
        q.segments: describe(q, result.alpha, result.bootstrap, result.criterion)
        for q in result.quantities
        if q.written is not None
    }
    recipes = {path[:3] for path, _ in items if path[0] == "products" and path[2:3] == ("recipe",)}
    for r in recipes:
        comments[r] = ["the whole recipe: a variant replaces a list of steps as a whole"]
    lines = _header(result)
    _block(patch, (), "", comments, lines)
    return "\n".join(lines) + "\n"


def _header(r: FitResult) -> list[str]:
    base = r.base or "the base scenario"
    window = f"events before {r.until:g} h" if r.until is not None else "the whole log"
    lines = [
        f"# Fitted by twin fit from {r.source} ({window}: {r.events} events, censored at "
        f"{r.end:g} h) for scenario {r.scenario}.",
        f"# A variant of {base}: twin run {base} --variant THIS_FILE",
        f"# Durations in hours. Families tried: {', '.join(r.families)}; chosen by "
        f"{r.criterion.upper()}. Intervals: {100 * (1 - r.alpha):g}% basic parametric "
        f"bootstrap (B={r.bootstrap}); GOF p-values from the same bootstrap, refitted.",
    ]
    kept = [q for q in r.quantities if q.written is None and (q.n or q.base is not None)]
    if kept:
        lines.append("# Not written (the scenario's value stays):")
        for q in kept:
            if q.status == "kept":
                why = next((n for n in q.notes if n.startswith(("kept", "no "))), "kept")
            else:
                why = "fitted, not written: " + (q.notes[0] if q.notes else "not patchable")
            lines.append(f"#   {q.path}: n={q.n}; {why}")
    return lines


def _block(node: Mapping[str, Any], path: Segments, pad: str, comments, lines: list[str]) -> None:
    for key, value in node.items():
        here = (*path, key)
        lines.extend(f"{pad}# {c}" for c in comments.get(here, []))
        if isinstance(value, Mapping) and "dist" not in value and value:
            lines.append(f"{pad}{_flow(key)}:")
            _block(value, here, pad + "  ", comments, lines)
        elif key == "recipe" and isinstance(value, list):
            lines.append(f"{pad}{_flow(key)}:")
            for k, step in enumerate(value):
                first = True
                for name, v in step.items():
                    lines.extend(f"{pad}    # {c}" for c in comments.get((*here, k, name), []))
                    lead = f"{pad}  - " if first else f"{pad}    "
                    lines.append(f"{lead}{_flow(name)}: {_flow(v)}")
                    first = False
        else:
            lines.append(f"{pad}{_flow(key)}: {_flow(value)}")


# --------------------------------------------------------------------------- writing
def _at(obj: Any, path: Segments) -> Any:
    for seg in path:
        obj = obj[seg] if isinstance(seg, int) or isinstance(obj, Mapping) else getattr(obj, seg)
    return obj


def _check(result: FitResult, file: Path) -> None:
    """Resolve the written file against the base and compare every written value."""
    try:
        if result.base is not None:
            sc = resolve(result.base, [str(file)]).scenario
        else:
            sc = load_dict(deep_merge(dict(result.base_data), read_yaml(file)), str(file))
    except ScenarioError as exc:
        raise FitError(f"the variant written does not resolve against the base: {exc}") from None
    for q in result.quantities:
        if q.written is None:
            continue
        got = _at(sc, q.segments)
        want = _DIST.validate_python(_padded(_raw(result.base_data, q.segments), q.written))
        if got != want:
            raise FitError(f"the variant sets {q.path} to {got!r}, not the fitted {want!r}")


def write_text_atomic(
    path: str | Path, text: str, option: str, check: Callable[[Path], None] | None = None
) -> Path:
    """Write ``text`` to a temporary file beside ``path`` (permissions as the umask allows),
    run ``check`` on it, then rename it into place; a folder at ``path`` is refused with a
    FitError naming ``option``."""
    target = Path(path)
    if target.is_dir():
        raise FitError(
            f"{option} {target}: bad value: it is a folder; expected a file path (twin never "
            "writes over a folder)"
        )
    parent = target.absolute().parent
    if not parent.is_dir():
        raise FitError(f"{option} {target}: bad value: the folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_variant(result: FitResult, path: str | Path) -> Path:
    """Write the variant atomically: a temporary file, resolved against the base and checked
    value by value, then renamed into place; never over a folder."""
    return write_text_atomic(path, variant_text(result), "--out", lambda tmp: _check(result, tmp))
