"""The two Pegasus 5 catalogs a workflow needs here: transformations and replicas.

The transformation catalog (``transformationCatalog:`` in the workflow, else ``--tc FILE``, else
``transformations.yml`` beside the workflow, as ``pegasus-plan`` looks for it) maps a job's
``namespace::name:version`` to an executable. Only the entry for site ``local`` can run here;
an entry in a container, or a transformation with no ``local`` entry, is refused with its line.
The replica catalog (``replicaCatalog:``, else ``replicas.yml`` beside the workflow) maps a
logical file name to the local file that holds it (a path or a ``file://`` URL) and, optionally,
its sha256. Inline entries take precedence over catalog files, as in Pegasus
(https://pegasus.isi.edu/documentation/reference-guide/catalogs.html). Schemas:
``share/pegasus/schema/yaml/tc-5.0.yml`` and ``rc-5.0.yml`` in pegasus-isi/pegasus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from yaml.nodes import MappingNode, Node, SequenceNode

from hpcsched.runtime.workflow import WorkflowError, _line, _pairs, _parse

TC_FILE, RC_FILE = "transformations.yml", "replicas.yml"


@dataclass(frozen=True)
class Where:
    """A place in a YAML file, for ``FILE:LINE`` messages."""

    file: str
    line: int

    def error(self, what: str, fix: str) -> WorkflowError:
        return WorkflowError(self.file, self.line, what, fix)


@dataclass(frozen=True)
class Executable:
    """A transformation's local entry: the program and its profiles (transformation's, then the
    site entry's, later ones winning)."""

    path: str
    profiles: dict[str, dict[str, Any]]
    where: Where


@dataclass(frozen=True)
class Replica:
    path: Path
    sha256: str | None
    where: Where


@dataclass
class Catalogs:
    executables: dict[str, Executable | WorkflowError] = field(default_factory=dict)
    replicas: dict[str, Replica | WorkflowError] = field(default_factory=dict)


def tc_key(name: str, namespace: str | None, version: str | None) -> str:
    """Pegasus' fully qualified transformation name, ``namespace::name:version``."""
    return f"{namespace + '::' if namespace else ''}{name}{':' + version if version else ''}"


def local_path(pfn: str, where: Where, what: str) -> str:
    """A PFN's path on this machine: a path, or a ``file://`` URL; anything else is refused."""
    parsed = urlparse(pfn)
    if parsed.scheme in ("", "file") and (
        parsed.scheme == "" or parsed.netloc in ("", "localhost")
    ):
        return unquote(parsed.path) if parsed.scheme else pfn
    fix = "copy it here and give its path (remote transfers do not run here)"
    raise where.error(f"{what} is at {pfn!r}, not a local file", fix)


def merge_profiles(*layers: Any) -> dict[str, dict[str, Any]]:
    """Profiles ``{namespace: {key: value}}``, later layers winning key by key."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for namespace, values in (layer or {}).items():
            if isinstance(values, dict):
                merged.setdefault(str(namespace), {}).update(values)
    return merged


def _items(node: Node | None, data: Any, key: str) -> list[tuple[MappingNode, dict[str, Any]]]:
    """The mapping items of the list at ``key`` in (node, data), each with its node."""
    if not isinstance(node, MappingNode) or not isinstance(data, dict) or key not in _pairs(node):
        return []
    seq, values = _pairs(node)[key][1], data[key]
    if not isinstance(seq, SequenceNode) or not isinstance(values, list):
        return []
    return [
        (n, v)
        for n, v in zip(seq.value, values, strict=True)
        if isinstance(n, MappingNode) and isinstance(v, dict)
    ]


def read_transformations(node: Node | None, data: Any, file: str, into: Catalogs) -> None:
    """Add the transformations of a catalog (``transformations:`` under ``node``) not yet known.

    A transformation that cannot run here is kept as its refusal: it is raised only if a job
    uses it, so an unused remote-only entry in a shared catalog does not stop the workflow."""
    containers = {
        str(v.get("name")): Where(file, _line(n)) for n, v in _items(node, data, "containers")
    }
    for tnode, tr in _items(node, data, "transformations"):
        where = Where(file, _line(tnode))
        key = tc_key(str(tr.get("name", "")), tr.get("namespace"), _text(tr.get("version")))
        if key in into.executables:
            continue
        sites = _items(tnode, tr, "sites")
        local = [(n, s) for n, s in sites if s.get("name") == "local"]
        if not local:
            names = ", ".join(repr(s.get("name")) for _, s in sites) or "none"
            fix = "add a 'local' site entry with the path of the program here"
            what = f"transformation {key!r} has no entry for site 'local' (sites: {names})"
            into.executables[key] = where.error(what, fix)
            continue
        snode, site = local[0]
        at = Where(file, _line(snode))
        if site.get("container"):
            name = str(site["container"])
            line = f" (declared at line {containers[name].line})" if name in containers else ""
            what = f"transformation {key!r} runs in container {name!r}{line}"
            fix = "give a 'local' entry without a container (containers do not run here)"
            into.executables[key] = at.error(what, fix)
            continue
        try:
            path = local_path(str(site.get("pfn", "")), at, f"transformation {key!r}")
        except WorkflowError as exc:
            into.executables[key] = exc
            continue
        profiles = merge_profiles(tr.get("profiles"), site.get("profiles"))
        into.executables[key] = Executable(path, profiles, at)


def read_replicas(node: Node | None, data: Any, file: str, base: Path, into: Catalogs) -> None:
    """Add the replicas (``replicas:`` under ``node``) whose LFN is not yet known: the first
    local PFN of each (site ``local`` first); a replica with no local PFN is kept as its refusal."""
    for rnode, rep in _items(node, data, "replicas"):
        where = Where(file, _line(rnode))
        lfn = str(rep.get("lfn", ""))
        if lfn in into.replicas:
            continue
        if rep.get("regex"):
            into.replicas[lfn] = where.error(
                f"replica {lfn!r} is a regular expression",
                "list each file (regex replicas are not read here)",
            )
            continue
        pfns = [(rep.get("site"), rep.get("pfn"))] if "pfn" in rep else []
        pfns += [(p.get("site"), p.get("pfn")) for _, p in _items(rnode, rep, "pfns")]
        pfns.sort(key=lambda sp: sp[0] != "local")
        checksum = rep["checksum"] if isinstance(rep.get("checksum"), dict) else {}
        found: Replica | WorkflowError = where.error(f"replica {lfn!r} has no PFN", "add one")
        for _, pfn in pfns:
            try:
                path = Path(local_path(str(pfn), where, f"input {lfn!r}"))
            except WorkflowError as exc:
                found = exc
                continue
            found = Replica(base / path, _text(checksum.get("sha256")), where)
            break
        into.replicas[lfn] = found


def read_catalog_file(path: Path) -> tuple[Node | None, Any, str]:
    """A catalog file's node tree and value (duplicate keys and alias bombs refused)."""
    file = str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise WorkflowError(file, None, f"cannot read ({exc.strerror})", "check the path") from exc
    root, data = _parse(text, file)
    return root, data, file


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
