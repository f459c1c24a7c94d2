"""YAML files people write (the scrubber's rule files, the playbooks): loaded safely, with limits, and every
problem one CodegovError naming the file and line."""

from __future__ import annotations

import copy
import functools
import threading
from pathlib import Path
from typing import Any

from ingest.model import CodegovError

# Limits of load_yaml_file: a rule file or a playbook is a few kilobytes written by hand.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_ALIASES = 100  # the rule file uses 14 (*em_codes and the other shared lists)
MAX_YAML_NODES = 1_000_000  # values with every alias expanded: a 1 MiB file without aliases holds far fewer
MAX_YAML_DEPTH = 64
# Documents already loaded, by their bytes: the composer is PyYAML's Python one (the limits need it), about 20 ms
# for the rule file and the playbooks together, which a scrub, the site and the tests load again and again. Each
# caller gets its own copy.
_LOADED: dict[bytes, Any] = {}
_LOADED_MAX = 32
_LOADED_LOCK = threading.Lock()


def load_yaml_file(path: str | Path, what: str) -> Any:
    """The one YAML document of a file, loaded safely; `what` names the file in messages ("rule file").

    The project's one loader for YAML people write: the rule files (claims.rules.settings) and the playbooks
    (playbooks/load.py) use it. Every problem is one CodegovError naming the file, and the line
    when there is one: a file that is missing or larger than MAX_YAML_BYTES (refused before it is parsed),
    text that is not UTF-8, invalid YAML (the parser's problem and its line), more than one document, and
    what a hostile or broken file does to a plain yaml.safe_load: more than MAX_YAML_ALIASES aliases, aliases
    that expand to more than MAX_YAML_NODES values (a "billion laughs" file of a few hundred bytes expands to
    10^9 and ran 30 s into a MemoryError), an alias inside the collection it names, nesting deeper than
    MAX_YAML_DEPTH (a RecursionError otherwise), and a key given twice in one mapping (YAML keeps the last one
    without a word). Only the YAML safe types are built (SafeLoader).
    """
    import yaml

    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise CodegovError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise CodegovError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise CodegovError(f"{path}: the {what} is larger than {MAX_YAML_BYTES / 2**20:g} MiB: expected a YAML "
                           "file written by hand")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CodegovError(f"{path}:{line}: expected UTF-8 text in the {what}, found the byte "
                           f"0x{raw[exc.start]:02x}") from None
    with _LOADED_LOCK:
        loaded = _LOADED.get(raw)
    if loaded is not None:
        return copy.deepcopy(loaded)
    loader = None
    try:
        loader = _limited_loader()(text, path, what)  # libyaml checks the characters as it reads
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid"
        raise CodegovError(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML: "
                           f"{' '.join(problem.split())}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character)
        line = text[:exc.position].count("\n") + 1
        raise CodegovError(f"{path}:{line}: not valid YAML: the character U+{exc.character:04X} is not allowed "
                           "in YAML") from None
    except yaml.YAMLError as exc:
        raise CodegovError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        if loader is not None:
            loader.dispose()
    with _LOADED_LOCK:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[raw] = data
    return copy.deepcopy(data)


@functools.lru_cache(maxsize=1)
def _limited_loader() -> type:
    """yaml.SafeLoader counting aliases, expanded size and depth as it composes, refusing duplicate keys."""
    import yaml

    # libyaml's parser (CParser: the characters, the tokens and the events, in C) under PyYAML's own composer,
    # whose compose_node is where the limits are counted (CParser's C composer has no hook); PyYAML's safe
    # constructor and resolver, as yaml.SafeLoader
    class LimitedSafeLoader(yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor,
                            yaml.resolver.Resolver):
        def __init__(self, stream: str, path: Path, what: str):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.path, self.what = path, what
            self.aliases = 0
            self.depth = 0
            self.weight: dict[int, int] = {}  # id(node) -> the values it stands for, aliases expanded

        def refuse(self, mark, problem: str):
            raise CodegovError(f"{self.path}{f':{mark.line + 1}' if mark is not None else ''}: {problem}")

        def compose_node(self, parent, index):
            event = self.peek_event()
            alias = isinstance(event, yaml.AliasEvent)
            if alias:
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    self.refuse(event.start_mark, f"the {self.what} uses more than {MAX_YAML_ALIASES} YAML aliases "
                                                  "(*name): refused (a file of aliases of aliases can expand to "
                                                  "billions of values)")
            self.depth += 1
            if self.depth > MAX_YAML_DEPTH:
                self.refuse(event.start_mark, f"the {self.what} nests values more than {MAX_YAML_DEPTH} levels deep")
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
            weight = self.weight.get(id(node))
            if weight is None:
                if alias:  # the anchored collection is still being composed: it would contain itself
                    self.refuse(event.start_mark, f"an alias (*{event.anchor}) inside the collection it names")
                if isinstance(node, yaml.SequenceNode):
                    weight = 1 + sum(self.weight[id(v)] for v in node.value)
                elif isinstance(node, yaml.MappingNode):
                    weight = 1 + sum(self.weight[id(k)] + self.weight[id(v)] for k, v in node.value)
                else:
                    weight = 1
                if weight > MAX_YAML_NODES:
                    self.refuse(node.start_mark, f"the {self.what}'s aliases expand to more than {MAX_YAML_NODES:,} "
                                                 "values: refused")
                self.weight[id(node)] = weight
            return node

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        earlier = seen.get(key)
                    except TypeError:  # an unhashable key: the base class reports it
                        continue
                    if earlier is not None:
                        self.refuse(key_node.start_mark, f"the key {key!r} is given twice in one mapping (first on "
                                                         f"line {earlier}); YAML would keep only the last")
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    return LimitedSafeLoader
