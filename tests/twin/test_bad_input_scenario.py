"""Bad scenario input of every class: one ScenarioError naming file, path, value, expectation.

The classes: impossible calendar dates, YAML that multiplies itself through aliases, duplicate
keys, booleans where numbers belong, non-finite or absurd numbers, counts that would size memory
beyond reason. Each is refused at load time, quickly, with the path inside the file.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.scenario import ScenarioError, load, load_dict, load_yaml_text, read_yaml

from ..conftest import SCENARIOS

TINY = SCENARIOS / "tiny.yaml"


def _tiny() -> dict[str, Any]:
    return read_yaml(TINY)


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _error(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(path)
    return info.value


@pytest.mark.parametrize(
    ("replace", "where", "says"),
    [
        ("start: 2026-01-05T06:00:00", "start", "2026-13-45"),
        ("due: 5d", "orders[0].due", "2026-02-30"),
    ],
)
def test_impossible_dates_name_the_path(tmp_path, replace, where, says):
    text = TINY.read_text()
    assert replace in text
    bad = text.replace(replace, replace.split(":")[0] + ": " + says, 1)
    exc = _error(_write(tmp_path, bad))
    assert exc.path == where
    assert says in str(exc) and "calendar date" in str(exc)
    assert str(exc).startswith(str(tmp_path / "bad.yaml"))


def test_calendar_dates_still_work_as_dates_and_datetimes():
    data = _tiny()
    data["start"] = "2026-01-02"
    data["orders"][0]["due"] = "2026-01-09T14:30"
    sc = load_dict(data)
    assert sc.start.isoformat() == "2026-01-02T00:00:00"
    assert sc.orders[0].due == pytest.approx(7 * 24 + 14.5)


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"{n}: &{n} [{', '.join(['*' + p] * 9)}]"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_alias_bomb_is_refused_before_anything_walks_it(tmp_path):
    assert len(BILLION_LAUGHS) < 1024  # a 1 KB file that expands to 10^9 nodes
    exc = _error(_write(tmp_path, BILLION_LAUGHS))
    assert "aliases" in str(exc) and "100,000" in str(exc)


def test_recursive_alias_is_refused():
    with pytest.raises(ScenarioError, match="recursive alias"):
        load_yaml_text("a: &x [1, {b: *x}]\n", "r.yaml")


def test_modest_aliases_and_merge_keys_are_fine():
    text = "base: &b {dist: fixed, value: 2h}\nsteps: [*b, *b, *b]\nm:\n  <<: *b\n  value: 3h\n"
    data = load_yaml_text(text, "ok.yaml")
    assert data["steps"] == [{"dist": "fixed", "value": "2h"}] * 3
    assert data["m"] == {"dist": "fixed", "value": "3h"}


def test_duplicate_key_is_an_error_with_both_lines(tmp_path):
    text = TINY.read_text()
    head, tail = text.split("units:\n", 1)
    first_unit = tail.splitlines()[0]
    bad = head + "units:\n" + first_unit + "\n" + tail
    exc = _error(_write(tmp_path, bad))
    key = first_unit.strip().split(":")[0]
    assert exc.path == f"units.{key}"
    assert "given once" in str(exc) and "line" in str(exc)


def test_too_deep_nesting_is_refused():
    text = "a: " + "[" * 150 + "]" * 150 + "\n"
    with pytest.raises(ScenarioError, match="nesting"):
        load_yaml_text(text, "deep.yaml")


def _numeric_leaves(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every number in a plain data tree (durations written as numbers included)."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _numeric_leaves(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _numeric_leaves(v, (*path, i))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        out.append(path)
    return out


def _set(data: Any, path: tuple, value: Any) -> Any:
    data = copy.deepcopy(data)
    cur = data
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return data


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


@pytest.mark.parametrize("scenario", ["tiny.yaml", "osd_plant.yaml"])
def test_a_boolean_is_never_taken_for_a_number(scenario):
    data = read_yaml(SCENARIOS / scenario)
    leaves = _numeric_leaves(data)
    assert len(leaves) > 20
    for path in leaves:
        for bad in (True, False):
            with pytest.raises(ScenarioError) as info:
                load_dict(_set(data, path, bad), "s.yaml")
            assert info.value.path.startswith(_dotted(path)), (path, info.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_everywhere(bad):
    data = read_yaml(SCENARIOS / "osd_plant.yaml")
    for path in _numeric_leaves(data)[::3]:
        with pytest.raises(ScenarioError):
            load_dict(_set(data, path, bad), "s.yaml")


@pytest.mark.parametrize(
    ("dotted", "value", "says"),
    [
        ("products.tab_a.recipe.0.duration", 1e308, "at most 1,000,000 h"),
        ("products.tab_a.recipe.0.duration", "1e308h", "at most 1,000,000 h"),
        ("simulation.horizon", "20w", None),
        ("simulation.horizon", "11y", "duration"),
        ("simulation.horizon", 100_000, "ten years"),
        ("units.gran_1.count", 100_000_000, "1000"),
        ("staff.operator.count", 10**9, "10000"),
        ("products.tab_a.batch_size", 1e300, "1000000000000"),
        ("products.tab_a.recipe.0.scale_reference", 1e-9, "scaled duration"),
    ],
)
def test_sizes_are_bounded_with_the_bound_in_the_message(dotted, value, says):
    data = _tiny()
    path = tuple(int(p) if p.isdigit() else p for p in dotted.split("."))
    if says is None:  # within the bounds: accepted
        load_dict(_set(data, path, value))
        return
    with pytest.raises(ScenarioError) as info:
        load_dict(_set(data, path, value))
    assert says in str(info.value).replace(",", "") or says in str(info.value), info.value


def test_order_generator_cannot_ask_for_millions_of_orders():
    data = read_yaml(SCENARIOS / "osd_plant.yaml")
    gen = data["order_generator"]["products"]
    first = next(iter(gen))
    gen[first]["interarrival"] = "1min"
    with pytest.raises(ScenarioError) as info:
        load_dict(data)
    assert info.value.path == "order_generator" and "100,000" in str(info.value)


def test_huge_file_and_binary_file_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * 6_000_000)
    with pytest.raises(ScenarioError, match="too large"):
        read_yaml(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match="UTF-8"):
        read_yaml(binary)
    with pytest.raises(ScenarioError, match="no such file"):
        read_yaml(tmp_path)  # a folder, not a file


def test_one_loader_for_set_values_too():
    from twin.variants import parse_override

    with pytest.raises(ScenarioError):
        parse_override(
            "units.gran_1.count=" + BILLION_LAUGHS.replace("\n", " ")[:0] + "{a: 1, a: 2}"
        )
    bad_start = parse_override("start=2026-02-30")
    assert bad_start.value == "2026-02-30"  # text; the schema reports it with its path
    from twin.variants import resolve

    with pytest.raises(ScenarioError) as info:
        resolve(TINY, [], ["start=2026-02-30"])
    assert "start" in str(info.value) and "calendar date" in str(info.value)


def test_yaml_dates_are_not_constructed_by_the_yaml_reader():
    assert load_yaml_text("d: 2026-02-01\n", "x") == {"d": "2026-02-01"}
    # what yaml.safe_load would do, and why it is not used: it raises a bare ValueError
    with pytest.raises(ValueError):
        yaml.safe_load("d: 2026-13-45\n")
