"""Benchmark `solve_routing` on the public Solomon VRPTW instances, beside PyVRP and OR-Tools.

Runs every instance of benchmarks/instances/vrptw with the same time limit for each solver:
ours (heuristic + warm-started MILP), plain PyVRP (iterated local search, read with PyVRP's own
reader and the "dimacs" rounding, which is the floor(10 d) / 10 convention of the best-known
values) and OR-Tools routing (guided local search). Every solution of every solver is verified
with our independent checker. Prints a table against the best-known distances and writes
benchmarks/results/routing.json. It also checks that our solver keeps its time limit on the
wall clock (the tests check how the limit is shared without timing anything): a run longer
than the limit plus 10 % is marked "over" in the table.

    python benchmarks/bench_routing.py                      # 60 s per instance and solver
    python benchmarks/bench_routing.py --time-limit 30 --instances C101,R101_25
    python benchmarks/bench_routing.py --only ours

PyVRP and OR-Tools are used here side by side as references; OR-Tools is a development
dependency only and its model lives in this file.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks" / "instances" / "vrptw"
RESULTS = REPO / "benchmarks" / "results" / "routing.json"

if str(REPO) not in sys.path:  # allow running the file directly from a checkout
    sys.path.insert(0, str(REPO))

from optimizer.formats.vrplib import VrplibInstance, read_vrplib, to_routing_data  # noqa: E402
from optimizer.routing import (  # noqa: E402
    RoutePlan,
    RoutingData,
    check_routes,
    route_distance,
    solve_routing,
)

SOLVERS = ("ours", "pyvrp", "ortools")
OVER = 1.10
"""Our wall-clock seconds above this times the limit are reported as over the limit."""


def load_instances(filters: list[str]) -> list[tuple[Path, dict[str, Any]]]:
    table = json.loads((BENCHMARKS / "best_known.json").read_text(encoding="utf-8"))
    known = {row["instance"]: row for row in table}
    paths = sorted(BENCHMARKS.glob("*.vrp"), key=lambda p: (len(p.stem.split("_")[-1]), p.stem))
    return [
        (p, known.get(p.stem, {}))
        for p in paths
        if not filters or any(f in p.stem for f in filters)
    ]


def run_ours(path: Path, time_limit: float, seed: int) -> dict[str, Any]:
    data = to_routing_data(read_vrplib(path))
    started = time.perf_counter()
    result = solve_routing(data, time_limit=time_limit, seed=seed)
    wall = time.perf_counter() - started
    return {
        "wall_seconds": round(wall, 3),
        "over_limit": wall > OVER * time_limit,
        "distance": None if result.distance is None else round(result.distance, 4),
        "vehicles": result.vehicles,
        "status": result.status,
        "lower_bound": None if result.lower_bound is None else round(result.lower_bound, 4),
        "seconds": round(result.seconds, 3),
        "violations": check_routes(data, result.routes),
    }


def run_pyvrp(path: Path, time_limit: float, seed: int) -> dict[str, Any]:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    started = time.perf_counter()
    problem = pyvrp.read(str(path), round_func="dimacs")
    result = pyvrp.solve(problem, MaxRuntime(time_limit), seed=seed, collect_stats=False)
    seconds = time.perf_counter() - started
    plans = [
        RoutePlan(0, tuple(a.idx for a in route if a.is_client())) for route in result.best.routes()
    ]
    data = to_routing_data(read_vrplib(path))
    return _verified(data, plans, seconds, "feasible" if result.is_feasible() else "infeasible")


def run_ortools(path: Path, time_limit: float, seed: int) -> dict[str, Any]:
    """OR-Tools routing in tenths (exact for the truncated Solomon distances)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    started = time.perf_counter()
    inst: VrplibInstance = read_vrplib(path)
    n = len(inst.coords)
    tenth = [[round(10 * inst.distance(i, j)) for j in range(n)] for i in range(n)]
    service = [round(10 * s) for s in inst.service_times]
    vehicles = inst.vehicles or n - 1
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)

    def dist_cb(a: int, b: int) -> int:
        return tenth[manager.IndexToNode(a)][manager.IndexToNode(b)]

    def time_cb(a: int, b: int) -> int:
        i, j = manager.IndexToNode(a), manager.IndexToNode(b)
        return service[i] + tenth[i][j]

    def demand_cb(a: int) -> int:
        return round(inst.demands[manager.IndexToNode(a)])

    dist = routing.RegisterTransitCallback(dist_cb)
    routing.SetArcCostEvaluatorOfAllVehicles(dist)
    horizon = round(10 * inst.windows[0][1])
    routing.AddDimension(routing.RegisterTransitCallback(time_cb), horizon, horizon, False, "T")
    tdim = routing.GetDimensionOrDie("T")
    for node in range(1, n):
        early, late = inst.windows[node]
        tdim.CumulVar(manager.NodeToIndex(node)).SetRange(round(10 * early), round(10 * late))
    for v in range(vehicles):
        tdim.CumulVar(routing.Start(v)).SetRange(round(10 * inst.windows[0][0]), horizon)
        tdim.CumulVar(routing.End(v)).SetRange(round(10 * inst.windows[0][0]), horizon)
    cap = routing.RegisterUnaryTransitCallback(demand_cb)
    routing.AddDimensionWithVehicleCapacity(cap, 0, [round(inst.capacity)] * vehicles, True, "Q")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    left = max(1.0, time_limit - (time.perf_counter() - started))
    params.time_limit.FromMilliseconds(int(left * 1000))
    solution = routing.SolveWithParameters(params)
    seconds = time.perf_counter() - started
    data = to_routing_data(inst)
    if solution is None:
        return {"distance": None, "vehicles": 0, "status": "no solution", "seconds": seconds}
    plans = []
    for v in range(vehicles):
        index, seq = routing.Start(v), []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node != 0:
                seq.append(node - 1)
            index = solution.Value(routing.NextVar(index))
        if seq:
            plans.append(RoutePlan(0, tuple(seq)))
    return _verified(data, plans, seconds, "feasible")


def _verified(
    data: RoutingData, plans: list[RoutePlan], seconds: float, status: str
) -> dict[str, Any]:
    distance = route_distance(data, plans)
    return {
        "distance": round(distance, 4),
        "vehicles": len(plans),
        "status": status,
        "seconds": seconds,
        "violations": check_routes(data, plans),
    }


def gap(value: float | None, best: float | None) -> float | None:
    if value is None or not best:
        return None
    return 100 * (value - best) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solver")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instances", default="", help="comma-separated name filters")
    parser.add_argument("--only", default=",".join(SOLVERS), help="solvers to run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    filters = [f for f in args.instances.split(",") if f]
    solvers = [s for s in args.only.split(",") if s]
    runners = {"ours": run_ours, "pyvrp": run_pyvrp, "ortools": run_ortools}

    rows = []
    for path, known in load_instances(filters):
        best = known.get("best_known_distance")
        row: dict[str, Any] = {
            "instance": path.stem,
            "customers": known.get("customers"),
            "best_known": best,
            "best_known_proven": known.get("proven_optimal"),
        }
        for name in solvers:
            try:
                out = runners[name](path, args.time_limit, args.seed)
            except Exception as exc:  # one broken reference solver should not stop the table
                out = {"distance": None, "status": f"error: {type(exc).__name__}: {exc}"}
            out["gap_pct"] = gap(out.get("distance"), best)
            row[name] = out
            print(f"  {path.stem} {name}: {_cell(out)}", file=sys.stderr, flush=True)
        rows.append(row)

    print(_table(rows, solvers, args.time_limit))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "Solomon VRPTW (benchmarks/instances/vrptw), minimise total distance",
        "time_limit": args.time_limit,
        "seed": args.seed,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "rows": rows,
    }
    args.out.write_text(json.dumps(payload, indent=1, default=_round) + "\n", encoding="utf-8")
    print(f"\nwritten {args.out}")
    return 0


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else str(value)


def _cell(out: dict[str, Any]) -> str:
    if out.get("distance") is None:
        return str(out.get("status"))
    bad = " INFEASIBLE" if out.get("violations") else ""
    g = out.get("gap_pct")
    return f"{out['distance']:.1f} ({g:+.2f}%) {out.get('seconds', 0):.1f}s{bad}"


def _table(rows: list[dict[str, Any]], solvers: list[str], time_limit: float) -> str:
    head = f"{'instance':<10} {'best':>8}"
    if "ours" in solvers:
        head += f" | {'ours':>8} {'gap %':>6} {'LB':>8} {'status':>10} {'s':>5}"
    for name in solvers:
        if name != "ours":
            head += f" | {name:>8} {'gap %':>6} {'s':>5}"
    lines = [f"Solomon VRPTW, time limit {time_limit:g} s per solver", head, "-" * len(head)]
    for row in rows:
        line = f"{row['instance']:<10} {row['best_known'] or float('nan'):>8.1f}"
        for name in solvers:
            out = row[name]
            dist = out.get("distance")
            g = out.get("gap_pct")
            d_txt = f"{dist:>8.1f}" if dist is not None else f"{'-':>8}"
            g_txt = f"{g:>6.2f}" if g is not None else f"{'-':>6}"
            s_txt = f"{out.get('seconds', float('nan')):>5.1f}"
            if out.get("over_limit"):
                s_txt += " over"
            if out.get("violations"):
                d_txt = f"{'INFEAS':>8}"
            if name == "ours":
                lb = out.get("lower_bound")
                lb_txt = f"{lb:>8.1f}" if lb is not None else f"{'-':>8}"
                line += f" | {d_txt} {g_txt} {lb_txt} {out.get('status', ''):>10} {s_txt}"
            else:
                line += f" | {d_txt} {g_txt} {s_txt}"
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
