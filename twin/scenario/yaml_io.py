"""One safe YAML reader for everything a user hands the project: scenario and variant files,
``--set`` values, dashboard uploads, stored runs.

- Only the safe constructors (``yaml.safe_load`` semantics; the C parser when available).
- Dates stay text: ``2026-13-45`` reaches the schema as a string and is reported there with
  its path, instead of escaping as a traceback from PyYAML's date constructor.
- A key given twice in one mapping is an error (PyYAML would let the last one win silently).
- Aliases may repeat a block, not multiply it: the document, with every alias expanded, may
  hold at most ``MAX_EXPANSION`` more nodes than it literally has (a 1 KB "billion laughs" file
  expands to 10^9 nodes and would stall whatever walks it), and nesting is bounded.
"""

from __future__ import annotations

from typing import Any

import yaml

from twin.scenario.errors import ScenarioError

__all__ = ["load_yaml_text", "MAX_EXPANSION", "MAX_DEPTH"]

MAX_EXPANSION = 100_000
MAX_DEPTH = 100
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader without implicit timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != _TIMESTAMP]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag}>"


def _inspect(root: yaml.Node, source: str) -> None:
    """Duplicate keys, nesting depth and alias expansion, on the composed node graph (aliases
    are shared nodes there, so this costs one visit per distinct node)."""
    literal = 0
    seen: set[int] = set()
    # depth-first over distinct nodes, with the path of their first occurrence
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        literal += 1
        if depth > MAX_DEPTH:
            raise ScenarioError(
                source, path or _where(node), "...", f"nesting at most {MAX_DEPTH} levels deep"
            )
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Node] = {}
            for key, value in node.value:
                sub = _key_text(key)
                if key.tag != "tag:yaml.org,2002:merge":
                    ident = (key.tag, sub)
                    if ident in first:
                        raise ScenarioError(
                            source,
                            f"{path}.{sub}" if path else sub,
                            sub,
                            f"a key given once per mapping ({_where(first[ident])} and "
                            f"{_where(key)} both set it; the last one would silently win)",
                        )
                    first[ident] = key
                stack.append((value, f"{path}.{sub}" if path else sub, depth + 1))
                stack.append((key, path, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, f"{path}[{i}]", depth + 1))
    limit = literal + MAX_EXPANSION
    size = _expanded_size(root, limit)
    if size < 0:
        raise ScenarioError(
            source, "", "a recursive alias", "a document that is finite once aliases are expanded"
        )
    if size > limit:
        raise ScenarioError(
            source,
            "",
            f"aliases adding over {MAX_EXPANSION:,} nodes to a document of {literal:,}",
            f"aliases that add at most {MAX_EXPANSION:,} nodes when expanded (an alias may "
            "repeat a block, not multiply it)",
        )


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes of the document with every alias expanded (stops counting past ``limit``); -1
    for a recursive alias."""
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if done:
            active.discard(nid)
            size[nid] = min(limit + 1, 1 + sum(size[id(c)] for c in children))
            continue
        if nid in size:
            continue
        if nid in active:
            return -1  # a recursive structure expands without end
        active.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
        for c in children:
            if id(c) in active:
                return -1
    return size[id(root)]


def load_yaml_text(text: str, source: str) -> Any:
    """The value of a YAML document (one document), or a ScenarioError naming ``source``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _inspect(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, where, problem, "expected valid YAML") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(source, "", str(exc)[:200], "expected valid YAML") from None
    finally:
        loader.dispose()
