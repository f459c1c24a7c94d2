"""The code-system registry: what each code set is (kinds, code patterns, normal and display forms, names).

Every other module asks this one. A code set is a frozen `CodeSystem`; adding one is an entry in
`REGISTRY` plus a parser. CPT is registered so that every stage recognises its codes, but it is not
`loaded`: the AMA licenses it and codegov ships no CPT data, so CPT codes are never validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    """One shape of code inside a code set (a HCPCS procedure code, a HCPCS modifier)."""

    name: str
    pattern: str  # the official (stored) form, anchored by fullmatch; non-capturing groups only
    billable_kinds: bool = True  # rows of this kind can be billed (ICD-10-CM headers cannot)

    @property
    def regex(self) -> re.Pattern:
        return re.compile(self.pattern)


@dataclass(frozen=True)
class CodeSystem:
    id: str  # icd10cm
    name: str  # ICD-10-CM, HCPCS Level II, Place of Service
    short: str  # ICD-10-CM, HCPCS, POS (navigation, table headings)
    fhir_uri: str  # the HL7 FHIR canonical URI of the code system
    kinds: tuple[Kind, ...]  # in the order a code's shape is tried
    loaded: bool = True  # codegov ingests releases of it (CPT: recognised, never loaded)
    columns: tuple[str, ...] = ()  # release-table columns its parser fills beyond the common ones
    revised_fields: tuple[str, ...] = ("long_desc", "short_desc")  # a change here is a revision
    family_width: int = 3  # leading characters that make a family (ICD category, HCPCS range)
    start_column: str | None = None  # the table column where a row's meaning starts (None: the release date)
    end_column: str | None = None  # where it ends (None: while the release is in force)
    horizon_months: int | None = 12  # how long the newest release stays in force when nothing newer loads
    dotted_after: int | None = None  # ICD-10-CM: people write a dot after the third character
    pad_digits: int | None = None  # POS: '2' is '02'
    aliases: tuple[str, ...] = field(default=())  # what people type for the code set's name
    # ICD-10-CM: validity comes from the billable flag release by release; a code can become a header
    # whose billable children replace it. Others: validity from the rows' own start and end dates.
    headers: bool = False
    # HCPCS: CMS reuses codes for new services; a code's identity is the code plus its add date.
    reuses_codes: bool = False
    # The replacement rules (ingest.replacements) that apply, in order
    replacement_rules: tuple[str, ...] = ()
    # POS: CMS documents no start date for the oldest codes; their rows leave effective_start empty
    # ("in effect before the earliest documented date") rather than carry an invented one
    undocumented_starts: bool = False
    # How the code set's own tabular list divides it, as (first family, last family, title), families
    # compared as strings: ICD-10-CM chapters, HCPCS Level II letter sections. See section().
    sections: tuple[tuple[str, str, str], ...] = ()

    def normalize(self, raw) -> str:
        """The official form of a code as people type it: upper case, no dot, POS with two digits."""
        code = str(raw).strip().upper()
        if self.dotted_after is not None:
            code = code.replace(".", "").replace(" ", "")
        if self.pad_digits and code.isdigit():
            code = code.zfill(self.pad_digits)
        return code

    def display(self, code) -> str:
        """The form people read: ICD-10-CM dotted (E11.9, I10 without a dot), others as they are."""
        return self.display_official(self.normalize(code))

    def display_official(self, code: str) -> str:
        """display() of a code already in its official form (a parser's output): no normalising."""
        n = self.dotted_after
        return f"{code[:n]}.{code[n:]}" if n is not None and len(code) > n else code

    def kind_of(self, code: str) -> str | None:
        """The kind whose pattern the official form matches; None when the code has no shape of this set."""
        for kind in self.kinds:
            if re.fullmatch(kind.pattern, code):
                return kind.name
        return None

    def matches(self, raw) -> bool:
        return self.kind_of(self.normalize(raw)) is not None

    @property
    def pattern(self) -> str:
        """One pattern for any code of this set (its kinds' patterns side by side)."""
        return "|".join(f"(?:{k.pattern})" for k in self.kinds)

    def kind(self, name: str) -> Kind:
        return next(k for k in self.kinds if k.name == name)


# ICD-10-CM: a letter, two characters (a digit second, or since FY2026 a letter: QA0), up to four more.
_ICD = r"[A-Z][0-9A-Z][0-9A-Z](?:[0-9A-Z]{1,4})?"
# HCPCS Level II: a letter A-V and four digits; its modifiers are two characters.
_HCPCS = r"[A-V][0-9]{4}"
_MODIFIER = r"[0-9A-Z]{2}"

# The 22 chapters of the ICD-10-CM tabular list (FY2026), by their first and last 3-character category.
_ICD_CHAPTERS = (
    ("A00", "B99", "Certain infectious and parasitic diseases"),
    ("C00", "D49", "Neoplasms"),
    ("D50", "D89", "Diseases of the blood and blood-forming organs and certain disorders involving the immune "
                   "mechanism"),
    ("E00", "E89", "Endocrine, nutritional and metabolic diseases"),
    ("F01", "F99", "Mental, behavioral and neurodevelopmental disorders"),
    ("G00", "G99", "Diseases of the nervous system"),
    ("H00", "H59", "Diseases of the eye and adnexa"),
    ("H60", "H95", "Diseases of the ear and mastoid process"),
    ("I00", "I99", "Diseases of the circulatory system"),
    ("J00", "J99", "Diseases of the respiratory system"),
    ("K00", "K95", "Diseases of the digestive system"),
    ("L00", "L99", "Diseases of the skin and subcutaneous tissue"),
    ("M00", "M99", "Diseases of the musculoskeletal system and connective tissue"),
    ("N00", "N99", "Diseases of the genitourinary system"),
    ("O00", "O9A", "Pregnancy, childbirth and the puerperium"),
    ("P00", "P96", "Certain conditions originating in the perinatal period"),
    ("Q00", "QA0", "Congenital malformations, deformations and chromosomal abnormalities"),
    ("R00", "R99", "Symptoms, signs and abnormal clinical and laboratory findings, not elsewhere classified"),
    ("S00", "T88", "Injury, poisoning and certain other consequences of external causes"),
    ("V00", "Y99", "External causes of morbidity"),
    ("Z00", "Z99", "Factors influencing health status and contact with health services"),
    ("U00", "U85", "Codes for special purposes"),
)
# The HCPCS Level II sections, one per first letter (CMS's own headings, shortened).
_HCPCS_SECTIONS = tuple((f"{letter}00", f"{letter}99", title) for letter, title in (
    ("A", "Transportation, medical and surgical supplies, miscellaneous and experimental"),
    ("B", "Enteral and parenteral therapy"),
    ("C", "Outpatient prospective payment system (temporary codes)"),
    ("E", "Durable medical equipment"),
    ("G", "Procedures and professional services (temporary codes)"),
    ("H", "Alcohol and drug abuse treatment, behavioral health"),
    ("J", "Drugs administered other than by mouth, chemotherapy drugs"),
    ("K", "Temporary codes for the DME MACs"),
    ("L", "Orthotic and prosthetic procedures and devices"),
    ("M", "Medical services"),
    ("P", "Pathology and laboratory services"),
    ("Q", "Temporary codes"),
    ("R", "Diagnostic radiology services"),
    ("S", "Temporary national codes (non-Medicare)"),
    ("T", "National codes for state Medicaid agencies"),
    ("U", "Coronavirus diagnostic tests"),
    ("V", "Vision, hearing and speech-language pathology services"),
))

ICD10CM = CodeSystem(
    id="icd10cm", name="ICD-10-CM", short="ICD-10-CM", fhir_uri="http://hl7.org/fhir/sid/icd-10-cm",
    kinds=(Kind("code", _ICD), Kind("header", _ICD, billable_kinds=False)),
    columns=("order_no",), family_width=3, dotted_after=3, aliases=("icd-10-cm", "icd10", "icd"), headers=True,
    replacement_rules=("children", "conversion"), sections=_ICD_CHAPTERS,
)
HCPCS = CodeSystem(
    id="hcpcs", name="HCPCS Level II", short="HCPCS",
    fhir_uri="https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    kinds=(Kind("procedure", _HCPCS), Kind("modifier", _MODIFIER)),
    columns=("action_code", "add_date", "action_effective_date", "termination_date", "xrefs", "coverage", "betos"),
    revised_fields=("long_desc", "short_desc", "coverage"), family_width=3,
    start_column="add_date", end_column="termination_date", aliases=("hcpcs level ii", "hcpcs2"), reuses_codes=True,
    replacement_rules=("xref", "successor"), sections=_HCPCS_SECTIONS,
)
POS = CodeSystem(
    id="pos", name="Place of Service", short="POS",
    fhir_uri="https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
    kinds=(Kind("pos", r"[0-9]{2}"),), revised_fields=("short_desc", "long_desc"), family_width=2,
    start_column="effective_start", end_column="effective_end", horizon_months=None, pad_digits=2,
    aliases=("place of service",), undocumented_starts=True,
)
CPT = CodeSystem(
    id="cpt", name="CPT", short="CPT", fhir_uri="http://www.ama-assn.org/go/cpt",
    # Category I, II (F), III (T) and PLA (U) codes; CPT modifiers are two digits
    kinds=(Kind("code", r"[0-9]{4}[0-9FTU]"), Kind("modifier", r"[0-9]{2}")), loaded=False,
)

REGISTRY: dict[str, CodeSystem] = {s.id: s for s in (ICD10CM, HCPCS, POS, CPT)}
LOADED = tuple(s.id for s in REGISTRY.values() if s.loaded)  # icd10cm, hcpcs, pos: the sets with releases
ORDER = tuple(REGISTRY)  # the order code sets are listed in, everywhere


def get(system: str) -> CodeSystem:
    from ingest.model import CodegovError

    try:
        return REGISTRY[system]
    except KeyError:
        raise CodegovError(f"unknown code set {system!r}: expected one of {', '.join(REGISTRY)}") from None


def name(system: str) -> str:
    found = REGISTRY.get(system) or EDIT_SETS.get(system)
    return found.name if found else system


def short(system: str) -> str:
    found = REGISTRY.get(system) or EDIT_SETS.get(system)
    return found.short if found else system


def normalize(system: str, raw) -> str:
    """The official form of raw in system; unknown systems: stripped as given."""
    return REGISTRY[system].normalize(raw) if system in REGISTRY else str(raw).strip()


def display(system: str, code) -> str:
    return REGISTRY[system].display(code) if system in REGISTRY else str(code)


def rank(system: str) -> int:
    return ORDER.index(system) if system in ORDER else len(ORDER)


def from_alias(text: str) -> str | None:
    """'ICD-10-CM', 'icd10', 'HCPCS Level II', 'place of service' -> the code set's id; None if none."""
    t = str(text).strip().lower()
    for s in REGISTRY.values():
        if t in (s.id, s.name.lower(), s.short.lower(), *s.aliases):
            return s.id
    return None


def release_title(system: str, label: str) -> str:
    """'ICD-10-CM FY2026', 'HCPCS Level II 2019', 'Place of Service August 2024'."""
    label = short_label(system, label)
    return f"{name(system)} {label}".strip()


def short_label(system: str, label: str) -> str:
    """A release label without its code set's short name: 'HCPCS 2019' -> '2019'."""
    prefix = short(system) + " "
    return label[len(prefix):] if label.startswith(prefix) else label


def family(system: str, code: str) -> str:
    """The family of a code (official form): its ICD-10-CM category, its HCPCS range (J15 for J1500-J1599)."""
    width = REGISTRY[system].family_width if system in REGISTRY else 3
    return str(code)[:width]


def section(system: str, code: str) -> tuple[int, str, str]:
    """The part of its code set's tabular list a code (official form) is in, as (number, range, title):
    (13, 'M00-M99', 'Diseases of the musculoskeletal ...') for an ICD-10-CM chapter, (0, 'J', 'Drugs ...')
    for a HCPCS section, (0, 'Modifiers', '') for a HCPCS modifier; (0, '', '') where the code set has none."""
    found = REGISTRY.get(system)
    if found is None or not found.sections:
        return 0, "", ""
    if found.kind_of(code) == "modifier":
        return 0, "Modifiers", ""
    fam = str(code)[:3]
    for number, (first, last, title) in enumerate(found.sections, start=1):
        if first <= fam <= last:
            if system == "icd10cm":
                return number, f"{first}-{last}", title
            return 0, first[0], title
    return 0, fam[:1], ""


def notice_name(system: str, to_id: str) -> str:
    """The change notice page of the release to_id: icd10cm-2025-10-01."""
    return f"{system}-{to_id}"


# ---------------------------------------------------------------------------------------------------------
# The edit tables: quarterly CMS tables claims are judged by. Each is a code set with releases (one per
# quarter, id = the ISO effective date) found, fetched, proven and stored like the code sets above, but
# keyed on codes they do not define (CPT and HCPCS procedure codes, pairs of them) and stored columnar
# (ingest.edit_store). Their parsers are in ingest.parse_edits; their readers in ingest.edits.


@dataclass(frozen=True)
class EditSet:
    id: str  # ptp
    name: str  # NCCI procedure-to-procedure edits
    short: str  # NCCI PTP
    roles: tuple[str, ...]  # the official files of a release, by role (practitioner, hospital, ...)
    required: tuple[str, ...]  # roles a release cannot be stored without
    key: tuple[str, ...]  # the stored table's sort order: readers take codes by its first column
    parts: bool = False  # a role may hold several files (PTP f1..f4), stored as one table
    aliases: tuple[str, ...] = field(default=())
    settings: tuple[tuple[str, str], ...] = ()  # (role, what the setting is called)

    def setting_name(self, role: str) -> str:
        return dict(self.settings).get(role, role)


PTP = EditSet(
    id="ptp", name="NCCI procedure-to-procedure edits", short="NCCI PTP",
    roles=("practitioner", "hospital"), required=("practitioner",), key=("setting", "column1", "column2"),
    parts=True, aliases=("ncci", "ncci ptp", "ptp edits"),
    settings=(("practitioner", "practitioner"), ("hospital", "outpatient hospital")),
)
MUE = EditSet(
    id="mue", name="NCCI Medically Unlikely Edits", short="MUE",
    roles=("practitioner", "hospital", "dme"), required=("practitioner",), key=("setting", "code"),
    aliases=("ncci mue", "medically unlikely edits"),
    settings=(("practitioner", "practitioner"), ("hospital", "outpatient hospital"), ("dme", "DME supplier")),
)
AOC = EditSet(
    id="aoc", name="NCCI add-on code edits", short="Add-on codes", roles=("aoc",), required=("aoc",),
    key=("addon", "primary"), aliases=("add-on", "add-on codes", "ncci aoc"),
)
PFS = EditSet(
    id="pfs", name="Medicare Physician Fee Schedule relative values", short="PFS RVUs", roles=("rvu",),
    required=("rvu",), key=("code", "modifier"), aliases=("rvu", "pprrvu", "fee schedule", "mpfs"),
)

EDIT_SETS: dict[str, EditSet] = {s.id: s for s in (PTP, MUE, AOC, PFS)}
EDITS = tuple(EDIT_SETS)  # ptp, mue, aoc, pfs
RELEASED = LOADED + EDITS  # every set with releases: what sources.toml, discovery and fetching know


def edit_set(system: str) -> EditSet:
    from ingest.model import CodegovError

    try:
        return EDIT_SETS[system]
    except KeyError:
        raise CodegovError(f"unknown edit table {system!r}: expected one of {', '.join(EDIT_SETS)}") from None
