"""Tiny shop instances shared by the optimizer tests, with their hand-checked optima."""

from __future__ import annotations

from optimizer.formats import ShopInstance

# Hand-checked: job 1 (5 + 5 on M0 then M1) must start by time 1 to end before 12, so it goes
# first on M0 or right after job 2's 2 units. If job 1 goes first, M0 then holds job 0's and
# job 2's first operations from 5 to 10 while M1 runs job 1 from 5 to 10, and job 2's second
# operation ends at 13 at best. Job 2 first on M0 ([0,2)), job 1 [2,7) then [7,12) on M1,
# job 0 [0,5) on M2 and [7,10) on M0, job 2 [2,5) on M1: makespan 12. The simple bounds give 10.
TINY = ShopInstance(
    name="tiny",
    n_machines=3,
    jobs=(
        (((2, 5),), ((0, 3),)),
        (((0, 5),), ((1, 5),)),
        (((0, 2),), ((1, 3),)),
    ),
)
TINY_OPTIMUM = 12

# The same shop with a choice: job 0's second operation may also run on M2 (for 4).
TINY_FLEX = ShopInstance(
    name="tiny_flex",
    n_machines=3,
    jobs=(
        (((2, 5),), ((0, 3), (2, 4))),
        (((0, 5),), ((1, 5),)),
        (((0, 2), (1, 2)), ((1, 3),)),
    ),
)

VALID_TINY = (
    (0, 0, 2, 0, 5),
    (0, 1, 0, 7, 10),
    (1, 0, 0, 2, 7),
    (1, 1, 1, 7, 12),
    (2, 0, 0, 0, 2),
    (2, 1, 1, 2, 5),
)
