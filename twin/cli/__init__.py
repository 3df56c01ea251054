"""The ``twin`` command: a thin shell over the library.

One Typer app built from one small sub-app per command group; each command imports what it
needs (the optimizer, the dashboard, the experiment machinery) when it runs, so ``twin
validate`` never pays for the solver. The ``twin`` package never imports ``optimizer`` or
``dashboard`` except here, in the commands that need them.

============  =============================================================
module        commands
============  =============================================================
``run``       validate, run, layout
``experiments`` compare, sweep (and what ``run -n`` shares with them)
``runs``      runs list | show | compare | rm
``plan``      plan
``logistics`` route, fleet
``dash``      dash
``emulate``   broker, emulate (the plant's side of a live trial)
``live``      live (the shadow twin; ``live_options``: what the three share)
``state``     state, forecast, export, fit (the plant now, what comes next, its logs)
``common``    errors, consoles, JSON, option types and checks
``render``    the reports: KPIs, intervals, plans, sweeps, fleets, the run store
``tables``    tables that fit the console, and number formats
``files``     output files that never destroy the user's
============  =============================================================

Every command turns bad input into one clear paragraph on stderr and exit code 2, never a
traceback (``common``).
"""

from __future__ import annotations

import typer

from twin.cli import dash, emulate, experiments, live, logistics, plan, run, runs, state
from twin.cli.common import TwinGroup

__all__ = ["app", "main"]

app = typer.Typer(
    cls=TwinGroup,
    help="PharmaTwin: simulate, plan and compare pharmaceutical plants.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(run.app)
app.add_typer(experiments.app)
app.add_typer(runs.app, name="runs")
app.add_typer(plan.app)
app.add_typer(logistics.app)
app.add_typer(dash.app)
app.add_typer(emulate.app)
app.add_typer(live.app)
app.add_typer(state.app)


def main() -> None:  # pragma: no cover
    app()
