"""Comparing runs on one consistent basis: the means shown are exactly the samples the
differences use, and every number says how many replications (or pairs) it rests on.

The basis: runs that share the reference's seed are paired by replication index (common random
numbers, as ``twin compare``), over the replication indices *all* of them hold; the reference's
mean is taken over those same replications, so "run 2 - run 1" is the difference of the two means
shown. A run with another seed (or with no replication in common) is compared as an independent
sample over all its replications (Welch). Replications left out are listed on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twin.experiment import Interval, flatten_kpis, mean_ci, paired_ci, welch_ci
from twin.store import Store

__all__ = [
    "Basis",
    "Cell",
    "choose_basis",
    "compare",
    "kpi_samples",
    "display_rows",
    "export_rows",
    "fmt_cell",
    "basis_note",
]

Samples = Mapping[str, Mapping[int, Mapping[str, float]]]  # run -> replication -> flat KPIs


@dataclass(frozen=True)
class Basis:
    """Which replications of which run the comparison uses."""

    reference: str
    paired: tuple[str, ...]  # other runs paired with the reference (same seed)
    used: dict[str, tuple[int, ...]]  # run -> replications its mean (and differences) use
    left_out: dict[str, tuple[int, ...]]  # run -> stored replications not used

    def method(self, run: str) -> str:
        return "paired" if run in self.paired else "Welch"


@dataclass(frozen=True)
class Cell:
    """One number of the comparison table: a run's mean or a difference to the reference."""

    kpi: str
    run: str
    role: str  # "mean" or "difference"
    interval: Interval
    method: str | None = None  # differences: "paired" or "Welch"
    n_label: str = ""  # what n counts: "5", "5 pairs", "5 + 3"

    @property
    def significant(self) -> bool:
        iv = self.interval
        return self.role == "difference" and iv.low is not None and not iv.covers(0.0)


def kpi_samples(root: str, run_ids: Sequence[str]) -> dict[str, dict[int, dict[str, float]]]:
    """run id -> replication -> flat KPIs (``flatten_kpis``)."""
    store = Store(root)
    return {rid: {r: flatten_kpis(k) for r, k in store.kpis(rid).items()} for rid in run_ids}


def choose_basis(reps: Mapping[str, Sequence[int]], seeds: Mapping[str, Any]) -> Basis:
    """The consistent basis for runs in ``reps`` (run -> replications held; the first run is the
    reference): see the module docstring."""
    ids = list(reps)
    ref = ids[0]
    common = set(reps[ref])
    paired = []
    for rid in ids[1:]:
        if seeds.get(rid) == seeds.get(ref) and common & set(reps[rid]):
            common &= set(reps[rid])
            paired.append(rid)
    used = {ref: tuple(sorted(common)) if paired else tuple(sorted(reps[ref]))}
    for rid in ids[1:]:
        used[rid] = tuple(sorted(common)) if rid in paired else tuple(sorted(reps[rid]))
    left = {rid: tuple(sorted(set(reps[rid]) - set(used[rid]))) for rid in ids}
    return Basis(ref, tuple(paired), used, {k: v for k, v in left.items() if v})


def compare(
    samples: Samples, seeds: Mapping[str, Any], names: Sequence[str]
) -> tuple[Basis, list[Cell]]:
    """The basis and the table's cells: per KPI, each run's mean and each other run's difference
    to the reference (95% intervals)."""
    basis = choose_basis({rid: sorted(s) for rid, s in samples.items()}, seeds)
    ids = list(samples)
    ref = basis.reference

    def values(rid: str, name: str) -> list[float | None]:
        return [samples[rid][r].get(name) for r in basis.used[rid]]

    def count(rid: str, name: str) -> int:
        return sum(v is not None for v in values(rid, name))

    cells = []
    for name in names:
        for rid in ids:
            iv = mean_ci(values(rid, name))
            cells.append(Cell(name, rid, "mean", iv, None, str(iv.n)))
        for rid in ids[1:]:
            if rid in basis.paired:
                iv = paired_ci(values(ref, name), values(rid, name))
                label = f"{iv.n} pair" + ("s" if iv.n != 1 else "")
            else:
                iv = welch_ci(values(ref, name), values(rid, name))
                label = f"{count(ref, name)} + {count(rid, name)}"
            cells.append(Cell(name, rid, "difference", iv, basis.method(rid), label))
    return basis, cells


def _num(x: float) -> str:
    return f"{x:.4g}"


def fmt_cell(cell: Cell) -> str:
    """``89.6 ± 1.2 (n=5)``, ``+1.36 ± 0.8 * (n=5 pairs)``, ``+1.36 (no CI: 1 pair)``."""
    iv = cell.interval
    if iv.mean is None:
        return "-"
    diff = cell.role == "difference"
    mean = f"{iv.mean:+.4g}" if diff else _num(iv.mean)
    if iv.half_width is None:
        if not diff:
            why = "1 replication"
        elif cell.method == "paired":
            why = "1 pair"
        else:
            why = f"n={cell.n_label}"
        return f"{mean} (no CI: {why})"
    star = " *" if cell.significant else ""
    return f"{mean} ± {iv.half_width:.3g}{star} (n={cell.n_label})"


def display_rows(cells: Sequence[Cell], ids: Sequence[str]) -> list[dict[str, str]]:
    """Rows of the page's table: ``kpi``, ``run{i}`` (means) and ``diff{i}`` (differences)."""
    col = {rid: i for i, rid in enumerate(ids)}
    rows: dict[str, dict[str, str]] = {}
    for c in cells:
        row = rows.setdefault(c.kpi, {"kpi": c.kpi})
        key = "run" if c.role == "mean" else "diff"
        row[f"{key}{col[c.run]}"] = fmt_cell(c)
    return list(rows.values())


def export_rows(
    cells: Sequence[Cell], basis: Basis, labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The table as long-form data (one row per number) for downloads and reports."""
    out = []
    for c in cells:
        iv = c.interval
        out.append(
            {
                "kpi": c.kpi,
                "run_id": c.run,
                "run": labels.get(c.run, c.run),
                "what": "mean" if c.role == "mean" else f"difference to {basis.reference}",
                "method": c.method or "",
                "mean": iv.mean,
                "ci95_low": iv.low,
                "ci95_high": iv.high,
                "half_width": iv.half_width,
                "n": cell_n(c),
                "replications": ",".join(map(str, basis.used.get(c.run, ()))),
                "significant": c.significant,
            }
        )
    return out


def cell_n(c: Cell) -> int:
    """Replications (means, Welch: the smaller run) or pairs a number rests on."""
    return c.interval.n


def _ranges(reps: Sequence[int]) -> str:
    """``0-4, 7``."""
    out: list[str] = []
    run: list[int] = []
    for r in sorted(reps):
        if run and r == run[-1] + 1:
            run.append(r)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [r]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def basis_note(basis: Basis, labels: Mapping[str, str]) -> str:
    """One paragraph saying what the numbers rest on."""
    ref = basis.reference
    parts = [
        "Each cell: mean ± half-width of the 95% confidence interval, and n, the replications "
        "(or pairs) it rests on; * marks a difference whose interval excludes zero; "
        "a single value has no interval."
    ]
    if basis.paired:
        used = basis.used[ref]
        parts.append(
            f"Paired (common random numbers): {labels.get(ref, ref)} and "
            + ", ".join(labels.get(r, r) for r in basis.paired)
            + f" share the seed, so their means and differences use the replications all of "
            f"them hold ({_ranges(used)}; n={len(used)})."
        )
    welch = [r for r in basis.used if r != ref and r not in basis.paired]
    if welch:
        parts.append(
            "Independent (Welch): "
            + ", ".join(labels.get(r, r) for r in welch)
            + " (another seed, or no replication in common): all their replications."
        )
    for rid, left in basis.left_out.items():
        parts.append(
            f"Left out of {labels.get(rid, rid)}: replication(s) {_ranges(left)} "
            "(not held by every paired run)."
        )
    return " ".join(parts)
