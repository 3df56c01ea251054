"""The AGV fleet of a plant: requests, dispatch epochs, vehicle processes, traffic and charging.

A :class:`Fleet` takes transport requests from the plant (``request``), splits them into trips
of at most ``fleet.capacity`` loads, and has its vehicles serve them as its dispatch rule
(:mod:`twin.transport.rules`) decides: one pair at a time for a plain rule, or all waiting
trips at once at the end of each instant for a batched rule, which may also send the vehicles
left idle to dwell points (:mod:`twin.transport.dwell`). A vehicle reserves its whole route
before it moves (:mod:`twin.transport.traffic`), drains its battery by distance and by idle
time, and goes charging when it falls below the threshold. Every observable change is one
``emit`` into the event log (the ``agv_*``, ``transport_*``, ``traffic_wait`` and
``charge_*`` kinds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import simpy

from twin.eventlog import kind_code
from twin.flow_spec import FleetSpec
from twin.transport.dwell import DwellPoints
from twin.transport.layout import Layout, Leg, Route
from twin.transport.rules import get_rule
from twin.transport.traffic import Traffic
from twin.transport.vehicles import AGV_STATES, Job, Trip, Vehicle

if TYPE_CHECKING:
    from twin.plant import Plant

__all__ = ["Fleet"]

K_AGV_ADDED = kind_code("agv_added")
K_AGV_STATE = kind_code("agv_state")
K_AGV_MOVE = kind_code("agv_move")
K_REQUEST = kind_code("transport_request")
K_PICKUP = kind_code("transport_pickup")
K_DONE = kind_code("transport_done")
K_TRAFFIC = kind_code("traffic_wait")
K_CHARGE_START = kind_code("charge_start")
K_CHARGE_END = kind_code("charge_end")


class Fleet:
    """AGVs serving transport requests on a layout."""

    def __init__(
        self, plant: Plant, spec: FleetSpec, layout: Layout, chargers: Sequence[str]
    ) -> None:
        self.env = env = plant.env
        self.log = log = plant.log
        self.spec = spec
        self.layout = layout
        self.traffic = Traffic(env, layout.n_resources)
        self.rule = get_rule(spec.dispatch)
        self._assign = getattr(self.rule, "assign", None)  # a batched rule (see module doc)
        self._epoch_at: float | None = None  # the instant a batched dispatch is scheduled for
        make_dwell = getattr(self.rule, "dwell_points", None)  # where idle vehicles wait
        self._dwell: DwellPoints | None = make_dwell(self) if make_dwell is not None else None
        self.pending: list[Trip] = []
        self.chargers = {c: simpy.Resource(env, capacity=1) for c in chargers}
        self.low = spec.charge_threshold * spec.battery_kwh
        self._seq = 0
        # "repositioning" is interned when first used, so logs without it keep their strings
        self._state_codes = {s: log.code(s) for s in AGV_STATES if s != "repositioning"}
        self._label_codes = [log.code(x) for x in layout.labels]
        self._move_codes: dict[str, int] = {}
        self.vehicles: list[Vehicle] = []
        start = getattr(plant.state, "vehicles", None) or {}  # a warm start: where they were
        for i in range(spec.size):
            name = f"agv_{i + 1}"
            node, battery = spec.home[i % len(spec.home)], spec.battery_kwh
            if name in start and start[name].node in layout.node_res:
                node, battery = start[name].node, min(spec.battery_kwh, start[name].battery_kwh)
            v = Vehicle(name, i, log.code(name), node, battery)
            self.vehicles.append(v)
            log.emit(K_AGV_ADDED, unit=v.code, detail=log.code(node), value=v.battery)
            self._set(v, "idle")

    # ------------------------------------------------------------------ requests
    def request(
        self,
        origin: str,
        dest: str,
        loads: int,
        due: float,
        batch: int = -1,
        kind: str = "ibc",
        on_pickup: Callable[[], None] | None = None,
    ) -> simpy.Event:
        """Move ``loads`` IBCs/pallets from origin to dest; the event fires when all arrived.

        ``on_pickup`` is called once the last load has been picked up (a unit stays blocked
        until then).
        """
        env, log = self.env, self.log
        if origin == dest:  # same station (e.g. granulator and dryer in one room): no trip
            if on_pickup is not None:
                on_pickup()
            done = env.event()
            done.succeed()
            return done
        trips = max(1, math.ceil(loads / self.spec.capacity))
        job = Job(trips, on_pickup, env.event())
        left = max(loads, 1)
        for _ in range(trips):
            n = min(left, self.spec.capacity)
            left -= n
            self._seq += 1
            code = log.code(f"T{self._seq} {origin}>{dest}")
            trip = Trip(self._seq, origin, dest, n, due, env.now, batch, code, job)
            log.emit(K_REQUEST, batch=batch, detail=code, state=log.code(kind), value=float(n))
            self.pending.append(trip)
        if self._dwell is not None:
            self._dwell.observe(origin, trips, env.now)
        self._dispatch()
        return job.done

    def _dispatch(self) -> None:
        if self._assign is not None:
            if (self.pending or self._dwell is not None) and self._epoch_at != self.env.now:
                self._epoch_at = self.env.now
                self.env.timeout(0).callbacks.append(self._epoch)
            return
        while self.pending:
            idle = [v for v in self.vehicles if not v.busy and self._fit(v)]
            if not idle:
                return
            trip, veh = self.rule(self.pending, idle, self)
            self.pending.remove(trip)
            veh.busy = True
            self.env.process(self._serve(veh, trip))

    def _epoch(self, _event: simpy.Event | None = None) -> None:
        """A batched decision epoch: assign waiting trips to available vehicles, all at once,
        then send the vehicles left idle to their dwell points (rules with dwell points)."""
        self._epoch_at = None
        assign = self._assign
        assert assign is not None
        while self.pending:
            idle = [v for v in self.vehicles if (not v.busy and self._fit(v)) or self._takeable(v)]
            if not idle:
                break
            for trip, veh in assign(self.pending, idle, self):
                self.pending.remove(trip)
                if veh.relocating:  # it stops at its next node and serves the trip from there
                    veh.claim = trip
                    continue
                veh.busy = True
                self.env.process(self._serve(veh, trip))
        if self._dwell is not None:
            self._position(self._dwell)

    @staticmethod
    def _takeable(v: Vehicle) -> bool:
        """Repositioning and not yet taken by a trip."""
        return v.relocating and v.claim is None

    def _position(self, dwell: DwellPoints) -> None:
        """Send the idle vehicles that have not been placed yet to their dwell points.

        A vehicle is placed once after it becomes idle (``DwellPoints.spot``, the other idle
        vehicles where they wait); with ``joint`` all idle vehicles are re-planned together.
        A vehicle moves only if its whole route can be reserved at once: a repositioning never
        queues for traffic (a queued route claims its resources ahead of later trips); else
        the vehicle stays unplaced and is tried again at the next epoch.
        """
        if dwell.weight is None:
            return
        avail = [v for v in self.vehicles if (not v.busy and self._fit(v)) or self._takeable(v)]
        where = {v.index: v.dwell if v.relocating else v.node for v in avail}
        if dwell.policy.joint:
            targets = dwell.plan([where[v.index] for v in avail])
            for v, target in zip(avail, targets, strict=True):
                if not v.relocating and target != v.node:
                    self._reposition(v, target)
            return
        placed = {v.index for v in avail if v.relocating or v.settled}
        for v in avail:
            if v.index in placed:
                continue
            others = [where[u.index] for u in avail if u.index in placed]
            target = dwell.spot(others, v.node)
            placed.add(v.index)
            if target == v.node or self._reposition(v, target):
                v.settled = True
                where[v.index] = target

    def _reposition(self, v: Vehicle, target: str) -> bool:
        """Start driving idle ``v`` empty to ``target`` if its route is free now."""
        route = self.layout.route(v.node, target)
        if not self.traffic.free(route.resources):
            return False
        self.traffic.reserve(v.index, route.resources)  # granted at once
        self._set(v, "repositioning")
        self.traffic.release(self.layout.node_res[v.node])
        v.busy = v.relocating = True
        v.dwell = target
        self.env.process(self._relocate(v, route))
        return True

    def _relocate(self, v: Vehicle, route: Route):
        """Drive a reserved route to a dwell point. A trip that takes the vehicle over stops it
        at its next node (the rest of the route is released) and is served from there."""
        legs = route.legs
        for k, leg in enumerate(legs):
            if v.claim is not None:
                self.traffic.release(*(r for x in legs[k:] for r in (x.edge, x.node)))
                break
            v.heading, v.arrive_at = leg.to, self.env.now + leg.hours
            yield from self._leg(v, leg)
        v.relocating, v.dwell, v.heading = False, None, None
        trip, v.claim = v.claim, None
        if trip is not None:
            yield from self._serve(v, trip)
            return
        self._set(v, "idle")
        v.busy = False
        self._dispatch()

    def _fit(self, v: Vehicle) -> bool:
        """An idle vehicle with a low battery goes charging instead of taking work."""
        self._drain_idle(v)
        if v.battery < self.low:
            v.busy = True
            self.env.process(self._charge_then_idle(v))
            return False
        return True

    # ------------------------------------------------------------------ vehicle processes
    def _set(self, v: Vehicle, state: str) -> None:
        if state != v.state:
            if v.state == "idle":
                self._drain_idle(v)
            v.state = state
            if state == "idle":
                v.idle_since = v.drained_at = self.env.now
            code = self._state_codes.get(state)
            if code is None:
                code = self._state_codes[state] = self.log.code(state)
            self.log.emit(K_AGV_STATE, unit=v.code, state=code, value=v.battery)

    def _drain_idle(self, v: Vehicle) -> None:
        if v.state == "idle":
            now = self.env.now
            v.battery = max(0.0, v.battery - (now - v.drained_at) * self.spec.drain_idle_per_h)
            v.drained_at = now

    def _serve(self, v: Vehicle, trip: Trip):
        env, log = self.env, self.log
        job = trip.job
        yield from self._drive(v, trip.origin, "empty")
        yield from self._handle(v)
        log.emit(
            K_PICKUP, unit=v.code, batch=trip.batch, detail=trip.code, value=env.now - trip.created
        )
        job.picked += 1
        if job.picked == job.trips and job.on_pickup is not None:
            job.on_pickup()
        yield from self._drive(v, trip.dest, "loaded")
        yield from self._handle(v)
        log.emit(
            K_DONE, unit=v.code, batch=trip.batch, detail=trip.code, value=env.now - trip.created
        )
        job.delivered += 1
        if job.delivered == job.trips:
            job.done.succeed()
        if v.battery < self.low:
            yield from self._charge(v)
        self._set(v, "idle")
        v.busy = v.settled = False
        self._dispatch()

    def _handle(self, v: Vehicle):
        if self.spec.handling > 0:
            self._set(v, "handling")
            yield self.env.timeout(self.spec.handling)

    def _drive(self, v: Vehicle, dest: str, mode: str):
        route = self.layout.route(v.node, dest)
        if not route.legs:
            return
        env, log, traffic = self.env, self.log, self.traffic
        grant = traffic.reserve(v.index, route.resources)
        if not grant.triggered:
            blocker = traffic.blocker(route.resources)
            self._set(v, "traffic")
            t0 = env.now
            yield grant
            log.emit(
                K_TRAFFIC,
                unit=v.code,
                value=env.now - t0,
                detail=self._label_codes[blocker] if blocker >= 0 else -1,
            )
        self._set(v, mode)
        traffic.release(self.layout.node_res[v.node])
        for leg in route.legs:
            yield from self._leg(v, leg)

    def _leg(self, v: Vehicle, leg: Leg):
        """Drive one reserved segment, releasing it and the node reached on arrival."""
        log = self.log
        mc = self._move_codes.get(leg.move)
        if mc is None:
            mc = self._move_codes[leg.move] = log.code(leg.move)
        log.emit(
            K_AGV_MOVE,
            unit=v.code,
            state=self._label_codes[leg.edge],
            detail=mc,
            value=leg.metres,
        )
        yield self.env.timeout(leg.hours)
        v.battery = max(0.0, v.battery - leg.metres * self.spec.drain_per_m)
        v.node = leg.to
        self.traffic.release(leg.edge, leg.node)

    def _charge(self, v: Vehicle):
        env, log = self.env, self.log
        dist = self.layout.distance
        free = [c for c, r in self.chargers.items() if r.count == 0 and not r.queue]
        pool = free or list(self.chargers)
        node = min(pool, key=lambda c: (dist(v.node, c), c))
        yield from self._drive(v, node, "empty")
        self._set(v, "idle")
        with self.chargers[node].request() as req:
            yield req
            self._set(v, "charging")
            log.emit(K_CHARGE_START, unit=v.code, detail=log.code(node), value=v.battery)
            need = self.spec.battery_kwh - v.battery
            if need > 0:
                yield env.timeout(need / self.spec.charge_kw)
            v.battery = self.spec.battery_kwh
            log.emit(K_CHARGE_END, unit=v.code, detail=log.code(node), value=v.battery)

    def _charge_then_idle(self, v: Vehicle):
        yield from self._charge(v)
        self._set(v, "idle")
        v.busy = v.settled = False
        self._dispatch()
