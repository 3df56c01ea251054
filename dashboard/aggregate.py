"""Building a :class:`~dashboard.playback_data.Playback` from a stored event log: per-unit state
changes, Gantt intervals (with order and recipe step), vehicle moves, batch positions, WIP and
stock curves, event times by kind, and the unit-hours per state accumulated over the plant.

The log is read once; everything here is vectorised over its columns except the pairing of step
starts and ends (one pass over the step events).
"""

from __future__ import annotations

import math

import numpy as np

from dashboard.plant_layout import unit_positions
from dashboard.playback_data import (
    GANTT_STATES,
    JUMP_KINDS,
    QUIET_KINDS,
    TRACKED_STATES,
    Playback,
)
from dashboard.process_levels import process_levels
from twin.kpi import LogView, wip_series
from twin.scenario import Scenario
from twin.store import Store

__all__ = ["load_playback", "accumulate_states"]


def _per_key(keys: np.ndarray, n: int) -> list[np.ndarray]:
    """Row indices grouped by key 0..n-1, each in the original (time) order."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def load_playback(store: Store, run_id: str, replication: int = 0) -> Playback:
    """Read one replication and pre-aggregate it (see :class:`Playback`)."""
    info = store.get(run_id)
    sc = store.scenario(info.id)
    table = store.events(info.id, replication)
    v = LogView(table)
    t = v.t
    t0, t1 = v.window()
    t0 = 0.0
    if len(t):
        t1 = max(t1, float(t[-1]))

    # ---------------------------------------------------------------- units and states
    kind_idx, kind_names = v.codes("kind")
    kcode = {name: i for i, name in enumerate(kind_names)}

    def rows(kind: str) -> np.ndarray:
        c = kcode.get(kind)
        return np.zeros(0, dtype=np.int64) if c is None else np.flatnonzero(kind_idx == c)

    unit_idx, unit_names = v.codes("unit")
    added = rows("unit_added")
    units = [unit_names[unit_idx[i]] for i in added]
    classes = v.strings("detail", np.isin(np.arange(len(t)), added))
    pos, rooms = unit_positions(sc)
    for k, name in enumerate(units):  # units the scenario does not name (should not happen)
        pos.setdefault(name, (30.0 * k, -100.0))
    uindex = {name: i for i, name in enumerate(units)}
    # dictionary code -> unit index (or -1)
    code_to_unit = np.full(len(unit_names) + 1, -1, dtype=np.int64)
    for c, name in enumerate(unit_names):
        code_to_unit[c] = uindex.get(name, -1)
    state_idx, state_names = v.codes("state")

    srows = rows("state")
    s_unit = code_to_unit[unit_idx[srows]]
    keep = s_unit >= 0
    srows, s_unit = srows[keep], s_unit[keep]
    used = np.unique(state_idx[srows])
    states = [state_names[c] for c in used]
    remap = np.full(len(state_names) + 1, 0, dtype=np.int64)
    remap[used] = np.arange(len(used))
    st_times, st_codes = [], []
    for grp in _per_key(s_unit, len(units)):
        r = srows[grp]
        st_times.append(t[r])
        st_codes.append(remap[state_idx[r]])

    # ---------------------------------------------------------------- Gantt intervals
    b_start: list[np.ndarray] = []
    b_end: list[np.ndarray] = []
    b_unit: list[np.ndarray] = []
    b_label: list[np.ndarray] = []
    b_batch: list[np.ndarray] = []
    b_order: list[np.ndarray] = []
    b_step: list[np.ndarray] = []
    shaded = [states.index(s) for s in GANTT_STATES if s in states]
    for u, (times, codes) in enumerate(zip(st_times, st_codes, strict=True)):
        ends = np.append(times[1:], t1)
        m = np.isin(codes, shaded)
        k = int(m.sum())
        b_start.append(times[m])
        b_end.append(ends[m])
        b_unit.append(np.full(k, u))
        b_label.append(np.array([states[c] for c in codes[m]], dtype=object))
        b_batch.append(np.full(k, -1))
        b_order.append(np.full(k, "", dtype=object))
        b_step.append(np.full(k, "", dtype=object))
    prod_idx, prod_names = v.codes("product")
    order_idx, order_names = v.codes("order")
    starts = rows("step_start")
    ends_ = rows("step_end")
    open_: dict[tuple[int, int, int], int] = {}
    p_s, p_e, p_u, p_l, p_b, p_o, p_n = [], [], [], [], [], [], []
    bu = code_to_unit[unit_idx]
    bat = v.batch
    steps = v.step

    def close(j: int, end: float, key: tuple[int, int, int]) -> None:
        product = prod_names[prod_idx[j]] if prod_idx[j] >= 0 else "batch"
        p_s.append(t[j])
        p_e.append(end)
        p_u.append(key[0])
        p_l.append(product)
        p_b.append(key[1])
        p_o.append(order_names[order_idx[j]] if order_idx[j] >= 0 else "")
        p_n.append(_step_name(sc, product, int(steps[j])))

    det_codes, det_names_ = v.codes("detail")

    def close_task(j: int, end: float, key: tuple[int, int]) -> None:
        task = det_names_[det_codes[j]] if det_codes[j] >= 0 else "task"
        p_s.append(t[j])
        p_e.append(end)
        p_u.append(key[0])
        p_l.append(task)
        p_b.append(key[1])
        p_o.append("")
        p_n.append(task)

    for i in np.sort(np.concatenate([starts, ends_])):
        key = (int(bu[i]), int(bat[i]), int(steps[i]))
        if kind_idx[i] == kcode["step_start"]:
            open_[key] = i
        else:
            j = open_.pop(key, None)
            if j is not None and key[0] >= 0:
                close(j, float(t[i]), key)
    for key, j in open_.items():  # steps still running at the end
        if key[0] >= 0:
            close(j, t1, key)
    # process plants: a task's batch from task_start to task_end, labelled with the task
    t_open: dict[tuple[int, int], int] = {}
    t_rows = np.sort(np.concatenate([rows("task_start"), rows("task_end")]))
    task_starts = rows("task_start")
    for i in t_rows:
        key2 = (int(bu[i]), int(bat[i]))
        if kind_idx[i] == kcode["task_start"]:
            t_open[key2] = i
            continue
        j = t_open.pop(key2, None)
        if j is not None and key2[0] >= 0:
            close_task(j, float(t[i]), key2)
    for key2, j in t_open.items():  # batches still running at the end
        if key2[0] >= 0:
            close_task(j, t1, key2)
    b_start.append(np.asarray(p_s, dtype=float))
    b_end.append(np.asarray(p_e, dtype=float))
    b_unit.append(np.asarray(p_u, dtype=np.int64))
    b_label.append(np.asarray(p_l, dtype=object))
    b_batch.append(np.asarray(p_b, dtype=np.int64))
    b_order.append(np.asarray(p_o, dtype=object))
    b_step.append(np.asarray(p_n, dtype=object))

    # ---------------------------------------------------------------- vehicles
    nodes: dict[str, tuple[float, float, str]] = {}
    edges: list[tuple[str, str]] = []
    vehicles: list[str] = []
    v_home = np.zeros((0, 2))
    mv_t0: list[np.ndarray] = []
    mv_t1: list[np.ndarray] = []
    mv_a: list[np.ndarray] = []
    mv_b: list[np.ndarray] = []
    vs_times: list[np.ndarray] = []
    vs_codes: list[np.ndarray] = []
    v_states: list[str] = []
    warehouses: dict[str, tuple[float, float]] = {}
    vcode = np.full(len(unit_names) + 1, -1, dtype=np.int64)
    if sc.layout is not None:
        nodes = {n: (nd.x, nd.y, nd.kind) for n, nd in sc.layout.nodes.items()}
        edges = [(e.from_, e.to) for e in sc.layout.edges]
        for w, spec in sc.warehouses.items():
            if spec.gate in nodes:
                warehouses[w] = nodes[spec.gate][:2]
        vadded = rows("agv_added")
        vehicles = [unit_names[unit_idx[i]] for i in vadded]
        det_idx, det_names = v.codes("detail")
        v_home = np.array(
            [nodes.get(det_names[det_idx[i]], (0.0, 0.0, ""))[:2] for i in vadded], dtype=float
        ).reshape(-1, 2)
        for k, name in enumerate(vehicles):
            vcode[unit_names.index(name)] = k
        hours = _edge_hours(sc)
        mrows = rows("agv_move")
        m_v = vcode[unit_idx[mrows]]
        # per distinct move label "a>b": from/to coordinates and hours
        labels = det_idx[mrows]
        uniq = np.unique(labels)
        lab_a = np.zeros((len(det_names) + 1, 2))
        lab_b = np.zeros((len(det_names) + 1, 2))
        lab_h = np.zeros(len(det_names) + 1)
        for c in uniq:
            a, _, b = det_names[c].partition(">")
            lab_a[c] = nodes.get(a, (0.0, 0.0, ""))[:2]
            lab_b[c] = nodes.get(b, (0.0, 0.0, ""))[:2]
            lab_h[c] = hours.get((a, b), 0.0)
        for grp in _per_key(np.where(m_v < 0, len(vehicles), m_v), len(vehicles)):
            r = mrows[grp]
            mv_t0.append(t[r])
            mv_t1.append(t[r] + lab_h[det_idx[r]])
            mv_a.append(lab_a[det_idx[r]])
            mv_b.append(lab_b[det_idx[r]])
        arows = rows("agv_state")
        a_v = vcode[unit_idx[arows]]
        used_v = np.unique(state_idx[arows])
        v_states = [state_names[c] for c in used_v]
        vremap = np.zeros(len(state_names) + 1, dtype=np.int64)
        vremap[used_v] = np.arange(len(used_v))
        for grp in _per_key(np.where(a_v < 0, len(vehicles), a_v), len(vehicles)):
            r = arows[grp]
            vs_times.append(t[r])
            vs_codes.append(vremap[state_idx[r]])

    # ---------------------------------------------------------------- batch positions
    bp_s, bp_e, bp_b, bp_u, bp_v = [], [], [], [], []
    bp_s.append(np.asarray(p_s, dtype=float))
    bp_e.append(np.asarray(p_e, dtype=float))
    bp_b.append(np.asarray(p_b, dtype=np.int64))
    bp_u.append(np.asarray(p_u, dtype=np.int64))
    bp_v.append(np.full(len(p_s), -1, dtype=np.int64))
    if vehicles:
        picks, dones = rows("transport_pickup"), rows("transport_done")
        req_idx, _ = v.codes("detail")
        done_at: dict[tuple[int, int], float] = {}
        for i in dones:
            done_at[(int(req_idx[i]), int(bat[i]))] = float(t[i])
        q_s, q_e, q_b, q_v = [], [], [], []
        for i in picks:
            if bat[i] < 0 or vcode[unit_idx[i]] < 0:
                continue
            q_s.append(t[i])
            q_e.append(done_at.get((int(req_idx[i]), int(bat[i])), t1))
            q_b.append(int(bat[i]))
            q_v.append(int(vcode[unit_idx[i]]))
        bp_s.append(np.asarray(q_s, dtype=float))
        bp_e.append(np.asarray(q_e, dtype=float))
        bp_b.append(np.asarray(q_b, dtype=np.int64))
        bp_u.append(np.full(len(q_s), -1, dtype=np.int64))
        bp_v.append(np.asarray(q_v, dtype=np.int64))

    # ---------------------------------------------------------------- curves and marks
    wip_t, wip_v = wip_series(v)
    if not len(wip_t) and len(t_rows):  # a process plant: the batches under way
        wip_t = t[t_rows]
        wip_v = np.cumsum(np.where(kind_idx[t_rows] == kcode["task_start"], 1, -1))
    levels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lrows = rows("wh_level")
    if len(lrows):
        wh = [unit_names[c] for c in unit_idx[lrows]]
        cls = [state_names[c] if c >= 0 else "" for c in state_idx[lrows]]
        keys = np.array([f"{w} ({c})" for w, c in zip(wh, cls, strict=True)], dtype=object)
        for key in dict.fromkeys(keys):
            m = keys == key
            levels[str(key)] = (t[lrows[m]], v.value[lrows[m]])
    cum_t, cum_h, cum_n = accumulate_states(
        t[srows], s_unit, np.asarray([states[c] for c in remap[state_idx[srows]]], dtype=object)
    )
    marks = {
        k: t[rows(k)] for k in (*JUMP_KINDS, "qc_release", "repair_end", "clean_start", "task_end")
    }
    tanks, utilities = process_levels(v)
    quiet = np.isin(kind_idx, [kcode[k] for k in QUIET_KINDS if k in kcode])
    return Playback(
        run_id=info.id,
        replication=replication,
        scenario=sc,
        start=sc.start,
        t0=t0,
        t1=t1,
        warmup=float(sc.simulation.warmup),
        first_activity=float(t[starts[0]])
        if len(starts)
        else float(t[task_starts[0]])
        if len(task_starts)
        else t0,
        units=units,
        unit_class=[c or "" for c in classes],
        unit_room=[rooms.get(u, "") for u in units],
        unit_xy=np.array([pos[u] for u in units], dtype=float).reshape(-1, 2),
        states=states,
        st_times=st_times,
        st_codes=st_codes,
        cum_t=cum_t,
        cum_h=cum_h,
        cum_n=cum_n,
        bar_start=np.concatenate(b_start),
        bar_end=np.concatenate(b_end),
        bar_unit=np.concatenate(b_unit).astype(np.int64),
        bar_label=np.concatenate(b_label),
        bar_batch=np.concatenate(b_batch).astype(np.int64),
        bar_order=np.concatenate(b_order),
        bar_step=np.concatenate(b_step),
        vehicles=vehicles,
        v_home=v_home,
        mv_t0=mv_t0,
        mv_t1=mv_t1,
        mv_a=mv_a,
        mv_b=mv_b,
        vs_times=vs_times,
        vs_codes=vs_codes,
        v_states=v_states,
        bp_start=np.concatenate(bp_s),
        bp_end=np.concatenate(bp_e),
        bp_batch=np.concatenate(bp_b),
        bp_unit=np.concatenate(bp_u),
        bp_vehicle=np.concatenate(bp_v),
        wip_t=np.asarray(wip_t, dtype=float),
        wip_v=np.asarray(wip_v, dtype=float),
        levels=levels,
        marks=marks,
        table=table,
        t=t,
        listed=np.flatnonzero(~quiet),
        nodes=nodes,
        edges=edges,
        warehouses=warehouses,
        tanks=tanks,
        utilities=utilities,
    )


def _edge_hours(sc: Scenario) -> dict[tuple[str, str], float]:
    """Travel hours per directed layout segment at the fleet's speed (as the model drives)."""
    from twin.flow_spec import edge_length

    assert sc.layout is not None
    speed = sc.fleet.speed if sc.fleet is not None else 1.0
    out = {}
    for e in sc.layout.edges:
        metres = edge_length(sc.layout, e)
        vmax = min(speed, e.speed_limit) if e.speed_limit else speed
        h = metres / vmax / 3600.0 if vmax > 0 else math.inf
        out[(e.from_, e.to)] = h
        if not e.one_way:
            out[(e.to, e.from_)] = h
    return out


def _step_name(sc: Scenario, product: str, step: int) -> str:
    spec = sc.products.get(product)
    if spec is None or not 0 <= step < len(spec.recipe):
        return f"step {step}"
    return spec.recipe[step].name


def accumulate_states(
    times: np.ndarray, unit: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Unit-hours per tracked state summed over units, at every state change.

    ``times``, ``unit``, ``state``: the state changes of all units in time order. Returns
    ``(cum_t, cum_h, cum_n)``: after change k, ``cum_n[s][k]`` units are in state s and
    ``cum_h[s][k]`` unit-hours were spent in s up to ``cum_t[k]``; "all" counts every state
    (a unit counts from its first change on). Hours until t are
    ``cum_h[s][k] + cum_n[s][k] * (t - cum_t[k])`` for the last change k at or before t.
    """
    n = len(times)
    cum_h: dict[str, np.ndarray] = {}
    cum_n: dict[str, np.ndarray] = {}
    if not n:
        empty = np.zeros(0)
        return empty, {s: empty for s in TRACKED_STATES}, {s: empty for s in TRACKED_STATES}
    # the state each change leaves (per unit, the previous change's state)
    order = np.argsort(unit, kind="stable")
    prev = np.empty(n, dtype=object)
    prev[:] = None
    su = unit[order]
    same = np.zeros(n, dtype=bool)
    same[1:] = su[1:] == su[:-1]
    shifted = np.empty(n, dtype=object)
    shifted[:] = None
    shifted[1:] = state[order][:-1]
    prev[order] = np.where(same, shifted, None)
    gaps = np.diff(times)
    for s in TRACKED_STATES:
        if s == "all":
            delta = (prev == None).astype(np.int64)  # noqa: E711 (object array comparison)
        else:
            delta = (state == s).astype(np.int64) - (prev == s).astype(np.int64)
        count = np.cumsum(delta)
        hours = np.zeros(n)
        hours[1:] = np.cumsum(count[:-1] * gaps)
        cum_h[s] = hours
        cum_n[s] = count.astype(np.float64)
    return np.asarray(times, dtype=float), cum_h, cum_n
