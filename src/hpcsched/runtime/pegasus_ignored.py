"""What a Pegasus workflow asks for that does not happen here: reported, not refused.

The workflow still runs; each kind of key the reader accepts but does not act on is one line
``FILE:LINE: what; what happens instead``, at its first place, with how many places hold it:
``metadata`` (no metadata catalog is kept), ``registerReplica: true`` (no replica catalog is
written), ``siteCatalog`` (every job runs here, as site ``local``), ``nodeLabel``, profiles that
are not read (:data:`READ_PROFILES`) and keys that are not Pegasus job keys. Hooks are one line
per ``hooks:`` block (workflow, transformation or job), naming each command that will not run.
What cannot run at all (containers, sub-workflows, other sites only, remote files) is refused by
:mod:`.pegasus` and :mod:`.pegasus_catalogs` instead. Schema: ``wf-5.0.yml`` in pegasus-isi/pegasus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hpcsched.runtime.workflow import _line, _pairs

#: profile keys :mod:`.pegasus` reads (lower case); every ``env`` key is read
READ_PROFILES = {
    "pegasus": {"cores", "gpus", "memory", "runtime", "maxwalltime"},
    "condor": {"request_cpus", "request_gpus", "request_memory"},
    "dagman": {"retry"},
}
JOB_KEYS = {"type", "id", "name", "namespace", "version", "arguments", "uses", "profiles"}
JOB_KEYS |= {"stdin", "stdout", "stderr", "nodeLabel", "metadata", "hooks"}
SHOWN = 3  # places named in a line


@dataclass
class _Seen:
    """Places of one kind of ignored key: (line, name), in file order."""

    places: list[tuple[int, str]] = field(default_factory=list)

    def add(self, node: Node, name: str) -> None:
        self.places.append((_line(node), name))

    def where(self, file: str) -> tuple[str, str]:
        line = min(line for line, _ in self.places)
        names = list(dict.fromkeys(name for _, name in sorted(self.places)))
        more = f", +{len(names) - SHOWN} more" if len(names) > SHOWN else ""
        count = f"{len(self.places)} place{'s' if len(self.places) > 1 else ''}"
        return f"{file}:{line}: ", f"{count}: {', '.join(names[:SHOWN])}{more}"


def _items(node: Node | None, key: str) -> list[MappingNode]:
    """The mappings of the sequence at ``key`` of ``node``."""
    if not isinstance(node, MappingNode) or key not in _pairs(node):
        return []
    seq = _pairs(node)[key][1]
    return (
        [n for n in seq.value if isinstance(n, MappingNode)]
        if isinstance(seq, SequenceNode)
        else []
    )


def _text(node: Node | None, key: str) -> str:
    if isinstance(node, MappingNode) and key in _pairs(node):
        value = _pairs(node)[key][1]
        return str(value.value) if isinstance(value, ScalarNode) else ""
    return ""


def _hooks(node: MappingNode, owner: str, file: str, notes: list[str]) -> None:
    """One line for the ``hooks`` of ``node``: ``{shell: [{_on: end, cmd: ...}]}``."""
    if "hooks" not in _pairs(node):
        return
    key, hooks = _pairs(node)["hooks"]
    said = []
    for kind, _ in _pairs(hooks).items() if isinstance(hooks, MappingNode) else ():
        said += [f"{kind} on {_text(h, '_on')}: {_text(h, 'cmd')}" for h in _items(hooks, kind)]
    what = "; ".join(said) or "none listed"
    notes.append(
        f"{file}:{_line(key)}: hooks of {owner} ({what}) do not run here; follow the run with "
        "--events instead"
    )


def ignored(root: MappingNode, file: str) -> list[str]:
    """The lines for ``root``, a workflow or a catalog file (``transformations:``/``replicas:``
    at its top)."""
    notes: list[str] = []
    metadata, register, labels = _Seen(), _Seen(), _Seen()
    profiles: dict[str, _Seen] = {}
    unknown: dict[str, _Seen] = {}
    top = _pairs(root)
    if "siteCatalog" in top:
        notes.append(
            f"{file}:{_line(top['siteCatalog'][0])}: siteCatalog is not read; every job runs "
            "on this machine, as site 'local'"
        )
    _hooks(root, "the workflow", file, notes)
    owners: list[tuple[MappingNode, str]] = [(root, "the workflow")]
    catalogs = [root] + [top[k][1] for k in ("transformationCatalog", "replicaCatalog") if k in top]
    for catalog in catalogs:
        for tr in _items(catalog, "transformations"):
            name = f"transformation {_text(tr, 'name')!r}"
            _hooks(tr, name, file, notes)
            owners += [(tr, name)] + [
                (site, f"{name} at {_text(site, 'name')}") for site in _items(tr, "sites")
            ]
        owners += [(rep, f"replica {_text(rep, 'lfn')!r}") for rep in _items(catalog, "replicas")]
    for job in _items(root, "jobs"):
        name = f"job {_text(job, 'id')!r}"
        _hooks(job, name, file, notes)
        owners.append((job, name))
        for key, (knode, _) in _pairs(job).items():
            if key == "nodeLabel":
                labels.add(knode, name)
            elif key not in JOB_KEYS:
                unknown.setdefault(key, _Seen()).add(knode, name)
        for use in _items(job, "uses"):
            lfn = _text(use, "lfn")
            owners.append((use, f"file {lfn!r} of {name}"))
            if _text(use, "registerReplica").lower() in ("true", "yes", "on"):
                register.add(_pairs(use)["registerReplica"][0], lfn)
    for node, name in owners:
        pairs = _pairs(node)
        if "metadata" in pairs:
            metadata.add(pairs["metadata"][0], name)
        if "profiles" in pairs and isinstance(pairs["profiles"][1], MappingNode):
            for namespace, (_, values) in _pairs(pairs["profiles"][1]).items():
                read = READ_PROFILES.get(namespace.lower())
                for key, (knode, _) in (
                    _pairs(values).items() if isinstance(values, MappingNode) else ()
                ):
                    if namespace.lower() != "env" and (read is None or key.lower() not in read):
                        profiles.setdefault(f"{namespace}.{key}", _Seen()).add(knode, name)
    if metadata.places:
        at, places = metadata.where(file)
        notes.append(f"{at}metadata ({places}) is not kept; there is no metadata catalog here")
    if register.places:
        at, places = register.where(file)
        notes.append(
            f"{at}registerReplica: true ({places}) registers nothing; there is no replica "
            "catalog here (outputs stay in the work directory, stageOut ones go to --output-dir)"
        )
    for key, seen in sorted(profiles.items()):
        at, places = seen.where(file)
        notes.append(f"{at}profile {key} ({places}) is not read here; it has no effect")
    if labels.places:
        at, places = labels.where(file)
        notes.append(f"{at}nodeLabel ({places}) is not shown here; job ids name the tasks")
    for key, seen in sorted(unknown.items()):
        at, places = seen.where(file)
        notes.append(f"{at}{key!r} ({places}) is not a Pegasus job key; it is ignored")
    return sorted(notes, key=lambda note: int(note.removeprefix(f"{file}:").split(":", 1)[0]))
