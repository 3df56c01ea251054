"""Batches of plain products run by callbacks (``twin.plain_batch``) give the log, bit for bit,
that the same batches give run as SimPy processes (``twin.batches.run_batch``): same events, same
order, same times, same random numbers."""

import pytest

from twin.eventlog import ROW
from twin.plant import Plant
from twin.scenario import load, load_dict

from ..conftest import DATA, SCENARIOS


def flow_line(servers: tuple[int, ...], means: tuple[float, ...], hours: float) -> dict:
    """A flow line (Poisson arrivals, exponential steps, FIFO): every product plain."""
    return {
        "name": "flow_line",
        "simulation": {"horizon": f"{hours}h"},
        "dispatch": "fifo",
        "equipment_classes": {f"s{i}": {} for i in range(len(means))},
        "units": {f"u{i}": {"class": f"s{i}", "count": c} for i, c in enumerate(servers)},
        "products": {
            "p": {
                "batch_size": 1,
                "recipe": [
                    {"name": f"s{i}", "equipment_class": f"s{i}",
                     "duration": {"dist": "exponential", "mean": m}}
                    for i, m in enumerate(means)
                ],
            }
        },
        "order_generator": {
            "products": {
                "p": {"interarrival": {"dist": "exponential", "mean": 1}, "quantity": 1,
                      "due_after": "10h"}
            }
        },
    }  # fmt: skip


def log_of(scenario, seed: int, plain: bool) -> tuple[list, dict[str, bool]]:
    """The log, bit for bit (each column's bytes, string columns as codes, and the strings
    they name), and which products ran by callbacks."""
    plant = Plant(scenario, seed=seed)
    plant.plain_batches = plain
    plant.run()
    columns = [plant.log.column(name).tobytes() for name in ROW.names]
    names = plant.log.to_table().column("order").chunk(0).dictionary.to_pylist()
    return [columns, names], plant.plain_products


@pytest.mark.parametrize(
    "scenario",
    [
        load_dict(flow_line((1, 1, 1), (0.7, 0.8, 0.6), 300), "single"),
        load_dict(flow_line((2, 3, 2), (1.6, 2.4, 1.4), 300), "multi"),
        load(DATA / "mm1.yaml"),
        load(DATA / "flow_line.yaml"),
        load(SCENARIOS / "validation" / "tandem.yaml"),
    ],
    ids=["single", "multi", "mm1", "flow_line", "tandem"],
)
@pytest.mark.parametrize("seed", [1, 7])
def test_callbacks_and_processes_give_the_same_log(scenario, seed):
    by_callbacks, plain = log_of(scenario, seed, plain=True)
    by_processes, _ = log_of(scenario, seed, plain=False)
    assert by_callbacks == by_processes


def test_a_flow_line_runs_by_callbacks_and_a_plant_with_qc_and_cleaning_does_not():
    _, plain = log_of(load_dict(flow_line((1,), (0.5,), 20), "one"), 1, plain=True)
    assert plain == {"p": True}
    osd = load(SCENARIOS / "osd_plant.yaml")
    short = osd.model_copy(
        update={"simulation": osd.simulation.model_copy(update={"horizon": 48.0})}
    )
    by_callbacks, plain = log_of(short, 3, plain=True)
    assert plain and not any(plain.values())
    assert by_callbacks == log_of(short, 3, plain=False)[0]
