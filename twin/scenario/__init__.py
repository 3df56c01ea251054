"""The scenario format: a YAML plant description validated into immutable objects.

- ``schema``: the pydantic models (``Scenario`` and its parts) and the bounds on sizes;
- ``loading``: file -> safe YAML -> schema -> calendar times resolved -> checks (``load``);
- ``checks``: cross-references and combinations that could never run;
- ``yaml_io``: the one safe YAML reader (no aliases bombs, no duplicate keys, dates as text);
- ``errors``: :class:`ScenarioError`, one paragraph naming file, path, value and expectation.
"""

from twin.scenario.errors import ScenarioError
from twin.scenario.loading import load, load_dict, parse_yaml_text, read_yaml, validation_error
from twin.scenario.schema import (
    UNIT_STATES,
    Cleaning,
    EquipmentClass,
    Order,
    Product,
    QCSpec,
    Scenario,
    StaffNeed,
    Step,
    UnitSpec,
    expand_units,
    parse_time,
)
from twin.scenario.yaml_io import load_yaml_text

__all__ = [
    "ScenarioError",
    "Scenario",
    "load",
    "load_dict",
    "read_yaml",
    "parse_yaml_text",
    "load_yaml_text",
    "validation_error",
    "UNIT_STATES",
    "expand_units",
    "parse_time",
    "Cleaning",
    "EquipmentClass",
    "Order",
    "Product",
    "QCSpec",
    "StaffNeed",
    "Step",
    "UnitSpec",
]
