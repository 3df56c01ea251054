"""Where things are drawn on the plant: unit positions, labels that never overlap, and vehicles
on one spot spread apart.

Positions are in the layout's metres. Labels are placed greedily in data units with an assumed
drawing scale (``metres_per_px``): each label tries its candidate spots in order and takes the
first that overlaps no unit square and no label placed before it, so names stay readable on
crowded layouts (two docks at one corner, three presses at one station).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.scenario import Scenario

__all__ = [
    "Label",
    "unit_positions",
    "place_labels",
    "label_box",
    "spread",
    "metres_per_px",
    "SPREAD_PX",
]

UNIT_GAP_M = 9.0  # units at one station sit this far apart
SPREAD_PX = 13.0  # vehicles on one spot are stacked this far apart (pixels)
CHAR_PX = 5.6  # width of one character at the labels' font size (9 px)
LINE_PX = 12.0


def unit_positions(sc: Scenario) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """(unit name -> (x, y), unit name -> room) for drawing the plant.

    With a layout, units sit beside their station node (several units at one station side by
    side, on the side away from the plant's centre line); units without a station, and every
    unit of a scenario without a layout, are laid out in a grid: a column per room (or equipment
    class when the unit has no room).
    """
    rooms: dict[str, str] = {}
    groups: dict[str, list[str]] = defaultdict(list)
    for name, uid in sc.unit_names():
        spec = sc.units[uid]
        rooms[name] = spec.room or spec.equipment_class
        groups[(spec.station or "") if sc.layout is not None else ""].append(name)
    pos: dict[str, tuple[float, float]] = {}
    loose = groups.pop("", [])
    if sc.layout is not None:
        nodes = sc.layout.nodes
        ys = [n.y for n in nodes.values()]
        mid = (min(ys) + max(ys)) / 2 if ys else 0.0
        for station, names in groups.items():
            node = nodes.get(station)
            if node is None:
                loose.extend(names)
                continue
            side = 1.0 if node.y > mid else -1.0
            for k, name in enumerate(names):
                pos[name] = (node.x + UNIT_GAP_M * (k - (len(names) - 1) / 2), node.y + 9.0 * side)
        xs = [n.x for n in nodes.values()]
        x0, y0 = (min(xs), max(ys) + 40.0) if xs else (0.0, 0.0)
    else:
        x0, y0 = 0.0, 0.0
    by_room: dict[str, list[str]] = defaultdict(list)
    for name in loose:
        by_room[rooms[name]].append(name)
    for col, (_room, names) in enumerate(by_room.items()):
        for row, name in enumerate(names):
            pos[name] = (x0 + 30.0 * col, y0 - 14.0 * row)
    return pos, rooms


def metres_per_px(xy: np.ndarray, width_px: float = 860.0, height_px: float = 440.0) -> float:
    """The drawing scale of points ``xy`` fitted into a plot of that size (equal axes)."""
    if not len(xy):
        return 1.0
    span = xy.max(axis=0) - xy.min(axis=0) + 20.0
    return max(float(span[0]) / width_px, float(span[1]) / height_px, 1e-6)


@dataclass(frozen=True)
class Label:
    text: str
    x: float  # anchor point (metres)
    y: float
    xanchor: str  # plotly annotation anchors
    yanchor: str


def _spots() -> list[tuple[float, float, str, str]]:
    """Candidate spots around an anchor, nearest first: (dx, dy) in px of the label's anchor
    point, and its plotly anchors. Rings further out are tried when the near ones are taken."""
    out = []
    for ring in range(4):
        d = 12.0 * ring
        out += [
            (0.0, -9.0 - d, "center", "top"),  # below
            (0.0, 9.0 + d, "center", "bottom"),  # above
            (10.0 + d, 0.0, "left", "middle"),  # right
            (-10.0 - d, 0.0, "right", "middle"),  # left
            (12.0 + d, -12.0 - d, "left", "top"),
            (-12.0 - d, 12.0 + d, "right", "bottom"),
            (12.0 + d, 12.0 + d, "left", "bottom"),
            (-12.0 - d, -12.0 - d, "right", "top"),
        ]
    return out


_SPOTS = tuple(_spots())


def label_box(
    x: float, y: float, w: float, h: float, xanchor: str, yanchor: str
) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a ``w`` x ``h`` label anchored at (x, y) as Plotly anchors it."""
    x0 = x - w / 2 if xanchor == "center" else x if xanchor == "left" else x - w
    y0 = y - h / 2 if yanchor == "middle" else y if yanchor == "bottom" else y - h
    return x0, y0, x0 + w, y0 + h


def _overlap(box: tuple[float, float, float, float], boxes: list[tuple[float, ...]]) -> float:
    """Area of ``box`` covered by ``boxes`` (summed)."""
    x0, y0, x1, y1 = box
    area = 0.0
    for b in boxes:
        w = min(x1, b[2]) - max(x0, b[0])
        h = min(y1, b[3]) - max(y0, b[1])
        if w > 0 and h > 0:
            area += w * h
    return area


def place_labels(
    texts: Sequence[str],
    anchors: np.ndarray,
    scale: float,
    obstacles: Sequence[tuple[float, float, float, float]] = (),
    placed: list[tuple[float, float, float, float]] | None = None,
) -> list[Label]:
    """Labels for ``texts`` at ``anchors`` (n, 2 metres), each at the first candidate spot that
    overlaps neither ``obstacles`` nor labels placed before (where every spot is taken, the one
    overlapping least); ``placed`` (boxes in metres) is extended in place so several calls share
    it. ``scale`` is metres per pixel."""
    boxes = list(obstacles)
    taken = placed if placed is not None else []
    out = []
    for text, (ax, ay) in zip(texts, anchors, strict=True):
        w, h = (len(text) * CHAR_PX + 4) * scale, LINE_PX * scale
        best = None
        for dx, dy, xa, ya in _SPOTS:
            x, y = ax + dx * scale, ay + dy * scale
            box = label_box(x, y, w, h, xa, ya)
            cover = _overlap(box, boxes) + _overlap(box, taken)
            if best is None or cover < best[0]:
                best = (cover, x, y, xa, ya, box)
            if cover == 0.0:
                break
        assert best is not None
        _, x, y, xa, ya, box = best
        taken.append(box)
        out.append(Label(text, float(x), float(y), xa, ya))
    return out


def spread(xy: np.ndarray, radius: float, eps: float = 0.5) -> np.ndarray:
    """Points closer than ``eps`` (metres) to an earlier one are stacked ``radius`` (metres)
    apart in a column centred on their common spot, so vehicles parked at one charger all stay
    visible with their labels (drawn to their right) one under the other. The same rule runs in
    the browser (``assets/playback.js``, ``spread``)."""
    out = np.array(xy, dtype=float).reshape(-1, 2)
    groups: list[list[int]] = []
    for i in range(len(out)):
        for g in groups:
            j = g[0]
            if abs(out[i, 0] - out[j, 0]) < eps and abs(out[i, 1] - out[j, 1]) < eps:
                g.append(i)
                break
        else:
            groups.append([i])
    res = out.copy()
    for g in groups:
        if len(g) < 2:
            continue
        cx, cy = out[g[0]]
        for k, i in enumerate(g):
            res[i] = (cx, cy + radius * ((len(g) - 1) / 2 - k))
    return res
