"""Plan one day of cold-chain deliveries from the plant and print the routes.

    python examples/distribution_routes.py [scenario.yaml] [time limit in seconds]

Reefer vans carry the 2-8 C products, ambient trucks the rest; each customer's window, the
depot hours and the vehicles' capacities and maximum route durations are respected.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # allow running the file directly from a checkout
    sys.path.insert(0, str(REPO))

from optimizer.route_commands import format_routes, route_scenario  # noqa: E402


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else REPO / "scenarios" / "distribution.yaml"
    time_limit = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    result = route_scenario(path, time_limit=time_limit, seed=0)
    print(format_routes(result))


if __name__ == "__main__":
    main()
