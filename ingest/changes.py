"""The change set: what one release of a code set changed, as typed records.

A ChangeSet holds, for one code set and two releases, lists of typed entries:
- Change: an added, deleted, expanded, reactivated or purged code (code, display_code, description, and
  the fields that kind of change has: kind, action_code, reason, termination_date, replacements, children);
- Revision: one field of a code that changed (field, before, after);
- Reuse: a HCPCS code reused for a different service (before and after: description and add date);
and the inventory's view of it, InventoryImpact, whose entries are Affected (a change plus who bills it).

Every record is a dataclass read by attribute; it also reads as a mapping of the fields it has (in field
order), which is its JSON form (`to_dict()`) and what the Jinja templates read. ingest.diff builds them;
ingest.impact builds the inventory's view; playbooks render them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ingest.model import SYSTEM_NAMES

SUMMARY_KEYS = ("added", "deleted", "revised", "expanded", "header_to_billable", "reused", "reactivated", "purged",
                "headers_added", "headers_deleted", "headers_revised")


def plain(value: Any) -> Any:
    """A record, list or dict of records as JSON-ready dicts and lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Record(Mapping):
    """A dataclass that also reads as a mapping of its fields that are not None (absent), in field order."""

    def _keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: str):
        value = getattr(self, key, None) if isinstance(key, str) else None
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None

    def to_dict(self) -> dict:
        return {k: plain(v) for k, v in self.items()}


@dataclass(eq=False)
class Change(Record):
    """A code added, deleted, expanded into children, reactivated or purged by the newer release."""

    code: str
    display_code: str
    description: str
    kind: str | None = None  # added: code | header | modifier ...
    action_code: str | None = None  # HCPCS action code of the newer file
    reason: str | None = None  # deleted: deleted | expanded | discontinued | vanished
    termination_date: str | None = None
    replacements: list | None = None  # deleted: [replacement dicts] from ingest.replacements
    children: list[str] | None = None  # expanded: the billable codes under it


@dataclass(eq=False)
class Revision(Record):
    """One field of a code that the newer release changed."""

    code: str
    display_code: str
    field: str
    before: str
    after: str


@dataclass(eq=False)
class Reuse(Record):
    """A HCPCS code whose add date changed: the same code for another service."""

    code: str
    display_code: str
    before: dict  # {description, add_date}
    after: dict


@dataclass(eq=False)
class Affected(Record):
    """A change seen from the inventory: the change's own fields, then who bills the code. Reads the
    change's fields as its own (`a.replacements`)."""

    change: Record | None = None
    code: str = ""  # the change's code; the only code field when there is no change (a code no release knows)
    system: str | None = None
    specialty: str | None = None
    service_line: str | None = None
    owner: str | None = None
    effective: str | None = None  # deleted: the release that deleted it
    family: str | None = None  # new in families: the family (category, range) the inventory bills in
    specialties: str | None = None

    def __post_init__(self) -> None:
        if self.change is not None:
            self.code = self.change.code

    def __getattr__(self, name: str):
        if name == "change" or self.__dict__.get("change") is None:
            raise AttributeError(name)
        return getattr(self.__dict__["change"], name)

    def _keys(self) -> list[str]:
        own = [k for k in super()._keys() if k != "change" and not (k == "code" and self.change is not None)]
        return [*self.change, *own] if self.change is not None else own

    def __getitem__(self, key: str):
        if self.change is not None and key in self.change:
            return self.change[key]
        if key == "change":
            raise KeyError(key)
        return super().__getitem__(key)


@dataclass(eq=False)
class InventoryImpact(Record):
    """What a billing team has to act on in one change set, sorted by code."""

    deleted: list[Affected] = field(default_factory=list)
    revised: list[Affected] = field(default_factory=list)
    reused: list[Affected] = field(default_factory=list)
    new_in_families: list[Affected] = field(default_factory=list)
    unknown: list[Affected] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)  # the inventory's own problems (ingest.inventory)


_CS_KEYS = ("system", "system_name", "from", "from_label", "to", "to_label", "effective", "summary", "added",
            "deleted", "revised", "expanded", "header_to_billable", "reused", "reactivated", "purged", "headers",
            "actions", "inventory")
_CS_ALIASES = {"from": "from_release", "to": "to_release", "effective": "to_release"}


@dataclass(eq=False)
class ChangeSet(Mapping):
    """One code set's changes from one release to the next. Reads as the mapping of its JSON form
    (keys `from`, `to`, `effective`, `summary`, ...), which the templates use."""

    system: str
    from_release: str
    to_release: str
    from_label: str = ""
    to_label: str = ""
    added: list[Change] = field(default_factory=list)
    deleted: list[Change] = field(default_factory=list)
    revised: list[Revision] = field(default_factory=list)
    expanded: list[Change] = field(default_factory=list)
    header_to_billable: list[Change] = field(default_factory=list)
    reused: list[Reuse] = field(default_factory=list)
    reactivated: list[Change] = field(default_factory=list)
    purged: list[Change] = field(default_factory=list)
    headers: dict[str, list] = field(default_factory=lambda: {"added": [], "deleted": [], "revised": []})
    actions: dict[str, list[str]] = field(default_factory=dict)
    inventory: InventoryImpact | None = None

    @property
    def system_name(self) -> str:
        return SYSTEM_NAMES.get(self.system, self.system)

    @property
    def summary(self) -> dict[str, int]:
        counts = {k: len({e.code for e in getattr(self, k)}) for k in SUMMARY_KEYS if not k.startswith("headers_")}
        counts.update({f"headers_{k}": len({e.code for e in v}) for k, v in self.headers.items()})
        return {k: counts[k] for k in SUMMARY_KEYS}

    @property
    def revised_codes(self) -> list[str]:
        return sorted({r.code for r in self.revised})

    def __getitem__(self, key: str):
        if key not in _CS_KEYS:
            raise KeyError(key)
        return getattr(self, _CS_ALIASES.get(key, key))

    def __iter__(self):
        return iter(_CS_KEYS)

    def __len__(self) -> int:
        return len(_CS_KEYS)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and self.to_dict() == plain(dict(other.items()))

    __hash__ = None

    def to_dict(self) -> dict:
        return {k: plain(self[k]) for k in _CS_KEYS}
