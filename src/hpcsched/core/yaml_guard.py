"""YAML a user hands us, checked as a node tree before any Python value is built from it.

PyYAML's safe loader runs no code, but two things in a safe document still hurt: a key given
twice in one mapping (PyYAML silently keeps the last, so a second ``partitions:`` block replaces
the first) and aliases, which share one node however often they are used, so ten levels of ten
aliases (a "billion laughs") compose to a few dozen nodes and then expand to 10^10 values in
whatever copies or walks them (pydantic, ``json.dumps``, a naive recursive check). Both are
found here on the composed tree, in time linear in its distinct nodes: duplicates are refused
with their line, and a document whose expanded size exceeds :data:`EXPANSION` times its distinct
nodes plus :data:`SLACK` (or whose aliases loop) is refused before anything is expanded. The
site, workflow and ``plan tools`` spec loaders share it, each turning :class:`YamlRefusal` into
its own ``FILE:LINE`` error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["EXPANSION", "SLACK", "YamlRefusal", "check_tree", "duplicates", "expanded_size"]

#: Aliases may make a document at most this many times its distinct nodes (plus SLACK): a
#: ``<<: *defaults`` in every job stays far below it, a billion laughs far above.
EXPANSION: Final = 10
SLACK: Final = 100_000
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class YamlRefusal(Exception):  # noqa: N818 -- each loader turns it into its own error type
    """Why a composed YAML document is refused: ``line`` (1-based), ``what``, ``fix``."""

    def __init__(self, line: int, what: str, fix: str) -> None:
        super().__init__(f"{line}: {what}; {fix}")
        self.line, self.what, self.fix = line, what, fix


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def duplicates(root: Node) -> Iterator[tuple[int, int, str]]:
    """(line, first line, key) of each key given twice in one mapping, each mapping once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, ScalarNode):
            continue
        seen.add(id(node))
        first: dict[tuple[str, str], int] = {}
        for key, _ in node.value if isinstance(node, MappingNode) else ():
            if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                if (key.tag, key.value) in first:
                    yield _line(key), first[key.tag, key.value], key.value
                first.setdefault((key.tag, key.value), _line(key))
        stack.extend(_children(node))


def expanded_size(root: Node) -> tuple[int, int, Node | None]:
    """(nodes once aliases are expanded, distinct nodes, a node on an alias loop or None),
    without expanding anything: each distinct node's size is computed once (iteratively, so
    deep nesting does not exhaust Python's stack)."""
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            continue
        if key in size:
            continue
        if key in open_:
            return 0, len(size), node
        open_.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_:
                return 0, len(size), child
            if id(child) not in size:
                stack.append((child, False))
    return size[id(root)], len(size), None


def check_tree(root: Node) -> None:
    """Refuse duplicate keys and alias expansion past the bound (:class:`YamlRefusal`)."""
    if found := min(duplicates(root), default=None):
        line, first, key = found
        what = f"key {key!r} is given twice in one mapping (first at line {first})"
        raise YamlRefusal(line, what, "remove one (YAML would keep only the last)")
    total, distinct, loop = expanded_size(root)
    if loop is not None:
        raise YamlRefusal(
            _line(loop), "an alias refers to a node that holds it (a loop)", "remove the alias"
        )
    if total > EXPANSION * distinct + SLACK:
        what = f"aliases expand {distinct:,} nodes to {total:,}"
        fix = f"write the values out (at most {EXPANSION}x the document plus {SLACK:,} nodes)"
        raise YamlRefusal(_line(root), what, fix)
