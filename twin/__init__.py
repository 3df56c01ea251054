"""PharmaTwin: a discrete-event digital twin of a pharmaceutical plant."""

from twin import lookahead as _lookahead  # noqa: F401  (registers the "lookahead" policy)
from twin.scenario import Scenario, ScenarioError, load, load_dict
from twin.simulate import Run, simulate

__all__ = ["Scenario", "ScenarioError", "load", "load_dict", "Run", "simulate"]
__version__ = "0.1.0"
