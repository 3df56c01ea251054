"""Tabu search on the critical path of the disjunctive graph, for job and flexible job shops.

Neighbourhood (the moves that can shorten the current critical path):

* block moves (N6 of Balas & Vazacopoulos / Zhang et al.): in a critical block, move an
  operation to just after the last operation of the block or just before the first, or move the
  first or last operation into the block. A move `u -> after v` is kept only when
  `len(v..end) >= len(js(u)..end)` (and symmetrically), which guarantees that no cycle is made;
* machine reassignment (flexible shops): move a critical operation to another eligible machine,
  at the position of that machine's sequence where the longest path through it is shortest.

Each move is scored with the classic approximation: heads and tails are recomputed only along the
few operations whose order changed. The chosen move is then applied and heads and tails of the
whole graph are recomputed exactly (one topological pass, a few hundred list operations).

Tabu attributes are operation pairs: after `u` is moved behind `x`, putting `u` before `x` again
is tabu for a random tenure; after a reassignment, the old machine is tabu for that operation. A
tabu move is allowed when its estimate beats the best makespan. After `stall` iterations without
a new best the search restarts from the best solution with a few random moves.

The search is deterministic for a given rng state when it stops on its iteration limit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from optimizer.shop_graph import FlatShop, Sequencing

__all__ = ["TabuOutcome", "TabuParams", "tabu_search"]


@dataclass(frozen=True)
class TabuParams:
    """Search settings; the defaults suit the classic job- and flexible-job-shop benchmarks."""

    stall: int | None = None
    """Iterations without a new best before a restart; None: 2000 + 20 * operations."""
    kick_min: int = 2
    kick_max: int = 6
    """A restart applies a random number of random moves in this range."""
    tenure_base: float | None = None
    """Shortest tabu tenure; None: 5 + jobs / machines."""
    tenure_spread: float = 1.5
    """Longest tenure as a multiple of the shortest."""
    elite: int = 1
    """Restarts begin from one of this many best distinct solutions."""

    def __post_init__(self) -> None:
        if self.stall is not None and self.stall <= 0:
            raise ValueError(f'"stall" must be > 0, got {self.stall}.')
        if not 0 <= self.kick_min <= self.kick_max:
            raise ValueError(
                f'need 0 <= "kick_min" <= "kick_max", got {self.kick_min} and {self.kick_max}.'
            )
        if self.tenure_base is not None and self.tenure_base < 1:
            raise ValueError(f'"tenure_base" must be >= 1, got {self.tenure_base}.')
        if self.tenure_spread < 1:
            raise ValueError(f'"tenure_spread" must be >= 1, got {self.tenure_spread}.')
        if self.elite < 1:
            raise ValueError(f'"elite" must be >= 1, got {self.elite}.')


@dataclass(frozen=True)
class TabuOutcome:
    """Best sequencing found, its makespan, iterations run and why the search stopped."""

    best: Sequencing
    makespan: int
    iterations: int
    stopped_by: str  # "lower_bound", "iterations", "time" or "poll"


def tabu_search(
    flat: FlatShop,
    start: Sequencing,
    rng: random.Random,
    lower_bound: int = 0,
    max_iterations: int | None = None,
    deadline: float | None = None,
    poll: Callable[[int], bool] | None = None,
    params: TabuParams = TabuParams(),
) -> TabuOutcome:
    """Improve `start` until `lower_bound` is reached, `max_iterations`, `deadline` (a
    `time.perf_counter()` value) or `poll(best_makespan)` returns True."""
    search = _Search(flat, start, rng, params)
    return search.run(lower_bound, max_iterations, deadline, poll)


class _Search:
    """Mutable search state; lists indexed by operation, with index -1 as a zero sentinel."""

    def __init__(
        self, flat: FlatShop, start: Sequencing, rng: random.Random, params: TabuParams
    ) -> None:
        self.params = params
        n = flat.n_ops
        self.flat = flat
        self.n = n
        self.m = flat.n_machines
        self.rng = rng
        self.jp = list(flat.job_pred) + [-1]
        self.js = list(flat.job_succ) + [-1]
        self.alts = flat.alternatives
        self.flexible = any(len(a) > 1 for a in flat.alternatives)
        self.load(start)
        n_jobs = len(flat.op_id)
        base = params.tenure_base or 5 + n_jobs / max(1, flat.n_machines)
        self.tenure_lo = int(base)
        self.tenure_hi = max(self.tenure_lo, int(params.tenure_spread * base))

    # ----------------------------------------------------------------- state
    def load(self, seq: Sequencing) -> None:
        n = self.n
        self.mach = list(seq.machine_of)
        self.p = [self.flat.duration_on[o][self.mach[o]] for o in range(n)] + [0]
        self.seqs = [list(s) for s in seq.sequences]
        self.pos = [0] * n
        self.mp = [-1] * (n + 1)
        self.ms = [-1] * (n + 1)
        for k in range(self.m):
            self.relink(k, 0, len(self.seqs[k]) - 1)
        self.r = [0] * (n + 1)
        self.q = [0] * (n + 1)

    def snapshot(self) -> Sequencing:
        return Sequencing(tuple(self.mach), tuple(tuple(s) for s in self.seqs))

    def relink(self, k: int, lo: int, hi: int) -> None:
        """Refresh positions and machine links of sequence `k` between indices lo and hi."""
        s = self.seqs[k]
        last = len(s) - 1
        lo = max(lo, 0)
        hi = min(hi, last)
        pos, mp, ms = self.pos, self.mp, self.ms
        for t in range(lo, hi + 1):
            o = s[t]
            pos[o] = t
            mp[o] = s[t - 1] if t > 0 else -1
            ms[o] = s[t + 1] if t < last else -1

    def evaluate(self) -> int:
        """Exact heads, tails and makespan; -1 when the graph has a cycle."""
        n = self.n
        jp, js, mp, ms, p = self.jp, self.js, self.mp, self.ms, self.p
        indeg = [0] * n
        stack = []
        for o in range(n):
            d = (jp[o] >= 0) + (mp[o] >= 0)
            indeg[o] = d
            if not d:
                stack.append(o)
        r = [0] * (n + 1)
        order = []
        push = stack.append
        pop = stack.pop
        add = order.append
        while stack:
            o = pop()
            add(o)
            e = r[o] + p[o]
            s = js[o]
            if s >= 0:
                if r[s] < e:
                    r[s] = e
                d = indeg[s] - 1
                indeg[s] = d
                if not d:
                    push(s)
            s = ms[o]
            if s >= 0:
                if r[s] < e:
                    r[s] = e
                d = indeg[s] - 1
                indeg[s] = d
                if not d:
                    push(s)
        if len(order) < n:
            return -1
        q = [0] * (n + 1)
        cmax = 0
        for o in reversed(order):
            a = js[o]
            b = ms[o]
            t1 = q[a] + p[a]
            t2 = q[b] + p[b]
            t = t1 if t1 > t2 else t2
            q[o] = t
            t += r[o] + p[o]
            if t > cmax:
                cmax = t
        self.r = r
        self.q = q
        self.cmax = cmax
        return cmax

    # ------------------------------------------------------------ critical path
    def critical_blocks(self) -> tuple[list[int], list[list[int]]]:
        """One critical path (ties broken at random) and its blocks of same-machine operations."""
        r, p, mp, jp = self.r, self.p, self.mp, self.jp
        cmax = self.cmax
        ends = [o for o in range(self.n) if r[o] + p[o] == cmax]
        o = ends[self.rng.randrange(len(ends))] if len(ends) > 1 else ends[0]
        path = [o]
        rand = self.rng.random
        while True:
            ro = r[o]
            a = mp[o]
            b = jp[o]
            ca = a >= 0 and r[a] + p[a] == ro
            cb = b >= 0 and r[b] + p[b] == ro
            if ca and cb:
                o = a if rand() < 0.5 else b
            elif ca:
                o = a
            elif cb:
                o = b
            else:
                break
            path.append(o)
        path.reverse()
        ms = self.ms
        blocks = []
        block = [path[0]]
        for x in path[1:]:
            if ms[block[-1]] == x:
                block.append(x)
            else:
                blocks.append(block)
                block = [x]
        blocks.append(block)
        return path, blocks

    # ------------------------------------------------------------------ moves
    def segment_estimate(self, seg: list[int], prev: int, nxt: int) -> int:
        """Longest path through `seg` (a new machine order) between `prev` and `nxt`."""
        r, q, p, jp, js = self.r, self.q, self.p, self.jp, self.js
        h = r[prev] + p[prev]
        heads = []
        for x in seg:
            a = jp[x]
            t = r[a] + p[a]
            if t > h:
                h = t
            heads.append(h)
            h += p[x]
        t = q[nxt] + p[nxt]
        best = 0
        for i in range(len(seg) - 1, -1, -1):
            x = seg[i]
            a = js[x]
            t2 = q[a] + p[a]
            if t2 > t:
                t = t2
            t += p[x]
            v = heads[i] + t
            if v > best:
                best = v
        return best

    def block_moves(self, path: list[int], blocks: list[list[int]], it: int, out) -> None:
        """Append (estimate, tabu, kind, a, b, block) for the N6 moves of every block."""
        r, q, p, jp, js, mp, ms = self.r, self.q, self.p, self.jp, self.js, self.mp, self.ms
        n = self.n
        tabu = self.tabu_pair
        first_op, last_op = path[0], path[-1]
        for blk in blocks:
            size = len(blk)
            if size < 2:
                continue
            front_ok = blk[0] != first_op
            rear_ok = blk[-1] != last_op
            for a in range(size - 1):
                for b in range(a + 1, size):
                    at_front = a == 0 and front_ok
                    at_rear = b == size - 1 and rear_ok
                    if not (at_front or at_rear):
                        continue
                    u = blk[a]
                    v = blk[b]
                    # forward: u right after v
                    s = js[u]
                    if s < 0 or (s != v and q[v] + p[v] >= q[s] + p[s]):
                        seg = blk[a + 1 : b + 1]
                        seg.append(u)
                        est = self.segment_estimate(seg, mp[u], ms[v])
                        is_tabu = False
                        for x in blk[a + 1 : b + 1]:
                            if tabu[x * n + u] > it:
                                is_tabu = True
                                break
                        out.append((est, is_tabu, 0, u, v, blk))
                    if b == a + 1:
                        continue
                    # backward: v right before u
                    s = jp[v]
                    if s < 0 or (s != u and r[u] + p[u] >= r[s] + p[s]):
                        seg = [v]
                        seg.extend(blk[a:b])
                        est = self.segment_estimate(seg, mp[u], ms[v])
                        is_tabu = False
                        for x in blk[a:b]:
                            if tabu[v * n + x] > it:
                                is_tabu = True
                                break
                        out.append((est, is_tabu, 1, u, v, blk))

    def reassign_moves(self, path: list[int], it: int, out) -> None:
        """Append (estimate, tabu, 2, o, (machine, position, duration), None) per critical op."""
        r, q, p, jp, js = self.r, self.q, self.p, self.jp, self.js
        m = self.m
        tabu = self.tabu_assign
        for o in path:
            alts = self.alts[o]
            if len(alts) < 2:
                continue
            cur = self.mach[o]
            a = jp[o]
            rj = r[a] + p[a]
            a = js[o]
            qj = q[a] + p[a]
            ro, qo, po = r[o], q[o], p[o]
            ro_end = ro + po
            qo_full = qo + po
            for k, d in alts:
                if k == cur:
                    continue
                s = self.seqs[k]
                best_val = -1
                best_t = -1
                prev_end = 0
                prev_ok = True
                for t in range(len(s) + 1):
                    if t < len(s):
                        b = s[t]
                        pb = p[b]
                        b_ok = r[b] + pb > ro or q[b] < qo_full
                        tail = q[b] + pb
                    else:
                        b_ok = True
                        tail = 0
                    if prev_ok and b_ok:
                        val = (rj if rj > prev_end else prev_end) + d + (qj if qj > tail else tail)
                        if best_t < 0 or val < best_val:
                            best_val = val
                            best_t = t
                    if t < len(s):
                        prev_end = r[b] + pb
                        prev_ok = r[b] < ro_end or q[b] + pb > qo
                if best_t >= 0:
                    out.append((best_val, tabu[o * m + k] > it, 2, o, (k, best_t, d), None))

    def apply(self, kind: int, u: int, v, blk) -> tuple:
        """Apply a move; returns what `undo` needs."""
        if kind == 2:
            k, t, d = v
            old = self.mach[u]
            so = self.seqs[old]
            i = self.pos[u]
            saved = (kind, u, old, i, k, t, self.p[u])
            del so[i]
            self.relink(old, i - 1, len(so))
            sk = self.seqs[k]
            sk.insert(t, u)
            self.relink(k, t - 1, len(sk))
            self.mach[u] = k
            self.p[u] = d
            return saved
        k = self.mach[u]
        s = self.seqs[k]
        i = self.pos[u]
        j = self.pos[v]
        saved = (kind, k, i, s[i : j + 1])
        if kind == 0:
            s[i : j + 1] = s[i + 1 : j + 1] + [u]
        else:
            s[i : j + 1] = [v] + s[i:j]
        self.relink(k, i - 1, j + 1)
        return saved

    def undo(self, saved: tuple) -> None:
        if saved[0] == 2:
            _, u, old, i, k, t, pu = saved
            del self.seqs[k][t]
            self.relink(k, t - 1, len(self.seqs[k]))
            self.seqs[old].insert(i, u)
            self.relink(old, i - 1, len(self.seqs[old]))
            self.mach[u] = old
            self.p[u] = pu
            return
        _, k, i, part = saved
        s = self.seqs[k]
        s[i : i + len(part)] = part
        self.relink(k, i - 1, i + len(part))

    def mark_tabu(self, kind: int, u: int, v, blk, it: int, saved: tuple) -> None:
        tenure = self.rng.randint(self.tenure_lo, self.tenure_hi)
        until = it + tenure
        n = self.n
        tabu = self.tabu_pair
        if kind == 2:
            self.tabu_assign[u * self.m + saved[2]] = until
            return
        a = blk.index(u)
        b = blk.index(v)
        if kind == 0:  # u went behind blk[a+1..b]: forbid u before them again
            for x in blk[a + 1 : b + 1]:
                tabu[u * n + x] = until
        else:  # v went before blk[a..b-1]: forbid them before v again
            for x in blk[a:b]:
                tabu[x * n + v] = until

    # ------------------------------------------------------------------- loop
    def run(self, lower_bound, max_iterations, deadline, poll) -> TabuOutcome:
        n = self.n
        rng = self.rng
        self.tabu_pair = [0] * (n * n)
        self.tabu_assign = [0] * (n * self.m)
        cmax = self.evaluate()
        if cmax < 0:
            raise ValueError("the start sequencing has a cycle.")
        best = cmax
        best_seq = self.snapshot()
        params = self.params
        stall = params.stall or 2000 + 20 * n
        elite = [(best, best_seq)]
        it = 0
        last_improvement = 0
        stopped_by = "iterations"
        perf = time.perf_counter
        while True:
            if best <= lower_bound:
                stopped_by = "lower_bound"
                break
            if max_iterations is not None and it >= max_iterations:
                stopped_by = "iterations"
                break
            if it & 15 == 0:
                if deadline is not None and perf() >= deadline:
                    stopped_by = "time"
                    break
                if poll is not None and it & 255 == 0 and poll(best):
                    stopped_by = "poll"
                    break
            it += 1
            if it - last_improvement > stall:
                self.load(elite[rng.randrange(len(elite))][1])
                self.evaluate()
                self.tabu_pair = [0] * (n * n)
                self.tabu_assign = [0] * (n * self.m)
                self.kick(rng.randint(params.kick_min, params.kick_max))
                last_improvement = it
                if self.cmax < best:
                    best, best_seq = self.cmax, self.snapshot()
            path, blocks = self.critical_blocks()
            moves: list = []
            self.block_moves(path, blocks, it, moves)
            if self.flexible:
                self.reassign_moves(path, it, moves)
            if not moves:
                if self._is_fixed_job(path):
                    # the critical path is a whole job on fixed machines: nothing is shorter
                    stopped_by = "lower_bound"
                    break
                self.kick(3)
                if self.cmax < best:
                    best, best_seq = self.cmax, self.snapshot()
                continue
            chosen = self.choose(moves, best)
            while True:
                _, _, kind, u, v, blk = chosen
                saved = self.apply(kind, u, v, blk)
                cmax = self.evaluate()
                if cmax >= 0:
                    break
                self.undo(saved)
                self.evaluate()
                moves.remove(chosen)
                if not moves:
                    chosen = None
                    break
                chosen = self.choose(moves, best)
            if chosen is None:
                self.kick(3)
                if self.cmax < best:
                    best, best_seq = self.cmax, self.snapshot()
                continue
            self.mark_tabu(kind, u, v, blk, it, saved)
            if cmax < best:
                best = cmax
                best_seq = self.snapshot()
                last_improvement = it
                elite.insert(0, (best, best_seq))
                del elite[params.elite :]
        return TabuOutcome(best_seq, best, it, stopped_by)

    def choose(self, moves: list, best: int):
        """Best non-tabu (or aspirated) move by estimate, ties at random; else a random one."""
        chosen = None
        chosen_est = None
        ties = 0
        rand = self.rng.random
        for mv in moves:
            est = mv[0]
            if mv[1] and est >= best:
                continue
            if chosen is None or est < chosen_est:
                chosen = mv
                chosen_est = est
                ties = 1
            elif est == chosen_est:
                ties += 1
                if rand() * ties < 1.0:
                    chosen = mv
        if chosen is None:
            chosen = moves[self.rng.randrange(len(moves))]
        return chosen

    def kick(self, count: int) -> None:
        """Apply `count` random acyclic neighbourhood moves (diversification)."""
        for _ in range(count):
            path, blocks = self.critical_blocks()
            moves: list = []
            self.block_moves(path, blocks, 0, moves)
            if self.flexible:
                self.reassign_moves(path, 0, moves)
            if not moves:
                return
            mv = moves[self.rng.randrange(len(moves))]
            saved = self.apply(mv[2], mv[3], mv[4], mv[5])
            if self.evaluate() < 0:
                self.undo(saved)
                self.evaluate()

    def _is_fixed_job(self, path: list[int]) -> bool:
        """True when `path` is exactly one job, first to last operation, all on fixed machines."""
        ids = list(self.flat.op_id[self.flat.job_of[path[0]]])
        return path == ids and all(len(self.alts[o]) == 1 for o in path)
