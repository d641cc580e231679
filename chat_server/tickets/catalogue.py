"""The service catalogue: which Open311 services exist, and what a valid request for each looks like.

The one source for every service: Open311 (`open311.py`), the agent console's ticket form and the
bot's report form (`bot/actions/catalogue.py` loads this module by path) all read it, so they cannot
disagree. Loaded once at startup; any mistake (missing translation, unknown datatype, a list
attribute without values, a report_* label nobody maps) stops startup with the file, line and
field, because a catalogue error found by a resident at 2 a.m. is a lost report.
Pure logic: no I/O beyond reading the file. Imports only PyYAML (the bot's venv has it too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from chat_server.strict_yaml import UniqueKeyLoader
from chat_server.textchars import control_chars

LANGUAGES = ("en", "es")
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
SERVICE_TYPES = ("realtime", "batch", "blackbox")
# DESIGN.md: every one of these bot labels ends in a ticket, so each must map to a service.
REPORT_LABELS = (
    "report_pothole", "report_streetlight", "report_missed_pickup", "report_graffiti",
    "report_abandoned_vehicle", "report_fallen_tree", "report_water_leak", "report_illegal_dumping",
)
CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LABEL_RE = re.compile(r"^report_[a-z0-9_]{1,60}$")
# The chat form's own steps; an attribute with one of these codes would be ambiguous in the form.
RESERVED_ATTRIBUTE_CODES = frozenset({"location", "description", "photo", "contact", "contact_name", "phone",
                                      "email", "confirm", "change", "service", "location_block"})
# How the bot checks a free-text (string) answer beyond "not empty"; see bot/actions/parsing.py.
STRING_FORMATS = ("plate", "pole_number", "vehicle")
MAX_STRING_ATTR = 500
MAX_TEXT_ATTR = 4000


class CatalogueError(ValueError):
    """The catalogue file is invalid; the message names the file, the line and the field."""

    def __init__(self, message: str, source: str = "", line: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.field = field


class TicketValidationError(ValueError):
    """A service request that cannot be accepted. `code` is the Open311 error code (HTTP status),
    `description` is safe to show to API clients, `field` names the offending input."""

    def __init__(self, code: int, description: str, field: str | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.field = field


@dataclass(frozen=True)
class AttributeValue:
    key: str
    names: dict[str, str]
    synonyms: tuple[str, ...] = ()  # extra words residents type for this value (any language)
    # Said to the resident when they choose this value (en, es): what it means for their request ("no" to "was the
    # cart out by 7 a.m.?" means the crew may have passed before it was out). The form goes on.
    notes: dict[str, str] = field(default_factory=dict)

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]


@dataclass(frozen=True)
class ServiceAttribute:
    code: str
    datatype: str
    required: bool
    order: int
    descriptions: dict[str, str]
    datatype_descriptions: dict[str, str] = field(default_factory=dict)
    values: tuple[AttributeValue, ...] = ()
    variable: bool = True
    names: dict[str, str] = field(default_factory=dict)  # short field name ("Size") for summaries/forms
    prompts: dict[str, str] = field(default_factory=dict)  # the question the bot and the console ask
    keywords: tuple[str, ...] = ()  # words that name this field in a correction ("change the size")
    format: str | None = None  # a STRING_FORMATS check for string answers
    # A number's bounds (catalogue `min`, `max`): a count of items or of days is never negative.
    minimum: float | None = None
    maximum: float | None = None

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions["en"]

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or self.code.replace("_", " ")

    def prompt(self, language: str) -> str:
        return self.prompts.get(language) or self.prompts.get("en") or self.description(language)

    def datatype_description(self, language: str) -> str | None:
        return self.datatype_descriptions.get(language) or self.datatype_descriptions.get("en")

    def value(self, key: str) -> AttributeValue | None:
        return next((v for v in self.values if v.key == key), None)


@dataclass(frozen=True)
class Service:
    service_code: str
    names: dict[str, str]
    descriptions: dict[str, str]
    group: str
    keywords: tuple[str, ...] = ()
    type: str = "realtime"
    label: str | None = None
    agency_responsible: str | None = None
    service_notices: dict[str, str] = field(default_factory=dict)
    expected_days: float | None = None
    location_required: bool = True
    attributes: tuple[ServiceAttribute, ...] = ()
    # A request about the resident's own affairs (a callback about their bill), not a public problem: its
    # details, notes and updates are theirs alone (chat_server/tickets/open311.py public_request).
    private: bool = False
    # The chat form's location question for a service that is not a problem somewhere ("Where should the items
    # be picked up?" for a bulky pickup); none: "Where is the problem (…)?".
    location_prompts: dict[str, str] = field(default_factory=dict)

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions["en"]

    def service_notice(self, language: str) -> str | None:
        return self.service_notices.get(language) or self.service_notices.get("en")

    def location_prompt(self, language: str) -> str | None:
        return self.location_prompts.get(language) or self.location_prompts.get("en")

    def attribute(self, code: str) -> ServiceAttribute | None:
        return next((a for a in self.attributes if a.code == code), None)

    def free_text_codes(self) -> frozenset[str]:
        """The attributes a resident types freely (a plate, "red Honda, the owner lives at …"): private data."""
        return frozenset(a.code for a in self.attributes if a.datatype in ("string", "text"))

    @property
    def metadata(self) -> bool:
        return bool(self.attributes)

    def validate_attributes(self, given: dict[str, Any] | None) -> dict[str, str | list[str]]:
        """Check and normalise attribute answers: known codes, required ones present, list keys valid.

        Returns values as strings (lists for multivaluelist) in catalogue order. Empty answers to
        optional attributes are dropped.
        """
        given = dict(given or {})
        unknown = sorted(set(given) - {a.code for a in self.attributes})
        if unknown:
            raise TicketValidationError(
                400, f"unknown attribute {unknown[0]!r} for service_code {self.service_code}",
                f"attribute[{unknown[0]}]")
        out: dict[str, str | list[str]] = {}
        for attr in self.attributes:
            raw = given.get(attr.code)
            value = _normalise(attr, raw)
            if value in (None, "", []):
                if attr.required:
                    raise TicketValidationError(
                        400, f"attribute[{attr.code}] is required for service_code {self.service_code}",
                        f"attribute[{attr.code}]")
                continue
            out[attr.code] = value
        return out


def _normalise(attr: ServiceAttribute, raw: Any) -> str | list[str] | None:
    where = f"attribute[{attr.code}]"
    if raw is None:
        return None
    if attr.datatype == "multivaluelist":
        items = raw if isinstance(raw, list | tuple) else [raw]
        keys: list[str] = []
        for item in items:
            key = str(item).strip()
            if not key:
                continue
            if attr.value(key) is None:
                raise TicketValidationError(400, f"{where}: {key!r} is not one of {_keys(attr)}", where)
            if key not in keys:
                keys.append(key)
        return keys
    if isinstance(raw, list | tuple):
        if len(raw) > 1:
            raise TicketValidationError(400, f"{where} takes a single value", where)
        raw = raw[0] if raw else None
        if raw is None:
            return None
    if isinstance(raw, bool):
        raw = "yes" if raw else "no"
    value = str(raw).strip()
    if not value:
        return ""
    if attr.datatype == "singlevaluelist":
        if attr.value(value) is None:
            raise TicketValidationError(400, f"{where}: {value!r} is not one of {_keys(attr)}", where)
        return value
    if attr.datatype == "number":
        try:
            number = float(value)
        except ValueError:
            raise TicketValidationError(400, f"{where} must be a number, got {value[:40]!r}", where) from None
        if not math.isfinite(number):
            raise TicketValidationError(400, f"{where} must be a finite number", where)
        if attr.minimum is not None and number < attr.minimum:
            raise TicketValidationError(400, f"{where} must be at least {attr.minimum:g}, got {value[:40]!r}", where)
        if attr.maximum is not None and number > attr.maximum:
            raise TicketValidationError(400, f"{where} must be at most {attr.maximum:g}, got {value[:40]!r}", where)
        return str(int(number)) if number.is_integer() else repr(number)
    if attr.datatype == "datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TicketValidationError(400, f"{where} must be an ISO 8601 date-time", where) from None
        return value
    limit = MAX_TEXT_ATTR if attr.datatype == "text" else MAX_STRING_ATTR
    if len(value) > limit:
        raise TicketValidationError(400, f"{where} is longer than {limit} characters", where)
    if control_chars(value, multiline=attr.datatype == "text"):
        raise TicketValidationError(400, f"{where} contains control characters", where)
    return value


def _keys(attr: ServiceAttribute) -> str:
    return ", ".join(v.key for v in attr.values)


@dataclass(frozen=True)
class Catalogue:
    services: dict[str, Service]

    def get(self, service_code: str) -> Service | None:
        return self.services.get(service_code)

    def by_label(self, label: str) -> Service | None:
        return next((s for s in self.services.values() if s.label == label), None)

    @property
    def labelled(self) -> list[Service]:
        """The services the bot can file (those with a report_* label), in catalogue order."""
        return [s for s in self.services.values() if s.label]

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services.values())


# --------------------------------------------------------------------------- loading
class _Mapping(dict[Any, Any]):
    """A YAML mapping that remembers where it and each of its keys start (1-based lines)."""

    line: int | None = None
    key_lines: dict[str, int]


class _LineLoader(UniqueKeyLoader):
    """SafeLoader whose mappings carry line numbers, so errors can point at the offending field (and a key
    written twice is an error)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    data = _Mapping(UniqueKeyLoader.construct_mapping(loader, node, deep=True))
    data.line = node.start_mark.line + 1
    data.key_lines = {str(k.value): v.start_mark.line + 1 for k, v in node.value}
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


_T = TypeVar("_T")


@dataclass(frozen=True)
class _At:
    """Where in the file a value is: the source, the field path and the mapping that holds it."""

    source: str
    path: str
    node: Any

    def child(self, path: str, node: Any) -> _At:
        return _At(self.source, f"{self.path}{path}" if path.startswith("[") else f"{self.path}.{path}", node)

    def line(self, key: str | None = None) -> int | None:
        if isinstance(self.node, _Mapping):
            return self.node.key_lines.get(key, self.node.line) if key else self.node.line
        return None

    def error(self, message: str, key: str | None = None) -> CatalogueError:
        line = self.line(key)
        fieldname = f"{self.path}.{key}" if key else self.path
        where = f"{self.source}, line {line}" if line else self.source
        return CatalogueError(f"{where}: {fieldname}: {message}", self.source, line, fieldname)


def _translations(at: _At, key: str, required: bool = True) -> dict[str, str]:
    value = at.node.get(key) if isinstance(at.node, dict) else None
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise at.error(f"expected a mapping of languages (en, es), got {value!r}", key)
    out = {str(k): str(v).strip() for k, v in value.items() if v is not None}
    missing = [lang for lang in LANGUAGES if not out.get(lang)]
    if missing:
        raise at.error(f"missing the {', '.join(missing)} text", key)
    extra = sorted(set(out) - set(LANGUAGES))
    if extra:
        raise at.error(f"unsupported language {extra[0]!r} (supported: {', '.join(LANGUAGES)})", key)
    return out


def _words(at: _At, key: str) -> tuple[str, ...]:
    words = at.node.get(key) or []
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        raise at.error("must be a list of words (strings)", key)
    return tuple(w.strip() for w in words)


def _flag(at: _At, key: str, default: bool) -> bool:
    value = at.node.get(key, default)
    if not isinstance(value, bool):
        raise at.error("must be true or false", key)
    return value


def _check_keys(at: _At, allowed: set[str]) -> None:
    unknown = sorted(set(map(str, at.node)) - allowed)
    if unknown:
        raise at.error(f"unknown key; valid keys: {', '.join(sorted(allowed))}", unknown[0])


_SERVICE_KEYS = {"service_code", "label", "name", "description", "group", "keywords", "type", "agency_responsible",
                 "service_notice", "expected_days", "location_required", "attributes", "private", "location_prompt"}
_ATTR_KEYS = {"code", "datatype", "required", "order", "name", "description", "prompt", "datatype_description",
              "values", "variable", "keywords", "format", "min", "max"}
_VALUE_KEYS = {"key", "name", "synonyms", "note"}


def _value(at: _At) -> AttributeValue:
    raw = at.node
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise at.error("expected {key: ..., name: {en, es}} with a string key (quote yes/no)")
    _check_keys(at, _VALUE_KEYS)
    return AttributeValue(raw["key"], _translations(at, "name"), _words(at, "synonyms"),
                          _translations(at, "note", required=False))


def _coded(at: _At, code_key: str, keys: set[str]) -> tuple[_At, dict[str, Any], str]:
    """A service or attribute: a mapping with only `keys`, named by its `code_key` (letters, digits,
    _ . -). Returns where it is (errors below name the code, e.g. `services[3] (pothole)`), the
    mapping and the code."""
    data = at.node
    if not isinstance(data, dict):
        raise at.error(f"expected a mapping, got {data!r}")
    code = data.get(code_key)
    if isinstance(code, str):
        at = _At(at.source, f"{at.path} ({code})", data)
    _check_keys(at, keys)
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise at.error(f"must be letters, digits, _ . - (got {code!r})", code_key)
    return at, data, code


def _entries(at: _At, key: str, read: Callable[[_At, int], _T], ident: Callable[[_T], str], what: str,
             ident_key: str) -> list[_T]:
    """The list under `key` (an attribute's values, a service's attributes): entry i is read at `key[i]`
    with its position i + 1, and no two entries may share their `ident` (a value's key, an attribute's code)."""
    data = at.node
    raw_entries = data.get(key) or []
    if not isinstance(raw_entries, list):
        raise at.error("must be a list", key)
    entries: list[_T] = []
    for i, raw in enumerate(raw_entries):
        entry = read(at.child(f"{key}[{i}]", raw) if isinstance(raw, dict) else
                     _At(at.source, f"{at.path}.{key}[{i}]", data), i + 1)
        if any(ident(e) == ident(entry) for e in entries):
            raise at.child(f"{key}[{i}]", raw).error(f"duplicate {what} {ident(entry)!r}", ident_key)
        entries.append(entry)
    return entries


def _attribute(at: _At, position: int) -> ServiceAttribute:
    at, data, code = _coded(at, "code", _ATTR_KEYS)
    if code in RESERVED_ATTRIBUTE_CODES:
        raise at.error(f"{code!r} is one of the chat form's own steps; choose another code", "code")
    datatype = data.get("datatype")
    if datatype not in DATATYPES:
        raise at.error(f"must be one of {', '.join(DATATYPES)} (got {datatype!r})", "datatype")
    order = data.get("order", position)
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise at.error("must be a positive integer", "order")
    values = _entries(at, "values", lambda entry, _: _value(entry), lambda v: v.key, "key", "key")
    is_list = datatype in ("singlevaluelist", "multivaluelist")
    if is_list and not values:
        raise at.error(f"a {datatype} needs values", "values" if "values" in data else "datatype")
    if not is_list and values:
        raise at.error("values are only allowed for singlevaluelist/multivaluelist", "values")
    fmt = data.get("format")
    if fmt is not None and (datatype != "string" or fmt not in STRING_FORMATS):
        raise at.error(f"only for string attributes, one of {', '.join(STRING_FORMATS)} (got {fmt!r})", "format")
    bounds = [_bound(at, data, name, datatype) for name in ("min", "max")]
    minimum = 0.0 if datatype == "number" and "min" not in data else bounds[0]
    if minimum is not None and bounds[1] is not None and bounds[1] < minimum:
        raise at.error(f"must not be below min ({minimum:g})", "max")
    return ServiceAttribute(
        code=code, datatype=datatype, required=_flag(at, "required", False), order=order,
        descriptions=_translations(at, "description"),
        datatype_descriptions=_translations(at, "datatype_description", required=False),
        values=tuple(values), variable=_flag(at, "variable", True),
        names=_translations(at, "name"), prompts=_translations(at, "prompt"),
        keywords=_words(at, "keywords"), format=fmt, minimum=minimum, maximum=bounds[1],
    )


def _bound(at: _At, data: dict[str, Any], name: str, datatype: str) -> float | None:
    """A number attribute's `min` or `max` (min defaults to 0: what residents count is never negative)."""
    if name not in data:
        return None
    value = data[name]
    if datatype != "number":
        raise at.error("only for number attributes", name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise at.error(f"must be a number (got {value!r})", name)
    return float(value)


def _service(at: _At) -> Service:
    at, data, code = _coded(at, "service_code", _SERVICE_KEYS)
    label = data.get("label")
    if label is not None and (not isinstance(label, str) or not LABEL_RE.match(label)):
        raise at.error(f"must look like report_<service> in lower case (got {label!r})", "label")
    group = data.get("group")
    if not isinstance(group, str) or not group.strip():
        raise at.error("is required", "group")
    stype = data.get("type", "realtime")
    if stype not in SERVICE_TYPES:
        raise at.error(f"must be one of {', '.join(SERVICE_TYPES)}", "type")
    expected = data.get("expected_days")
    if expected is not None and (not isinstance(expected, int | float) or isinstance(expected, bool) or expected < 0):
        raise at.error("must be a non-negative number", "expected_days")
    agency = data.get("agency_responsible")
    if agency is not None and not isinstance(agency, str):
        raise at.error("must be a string", "agency_responsible")
    attrs = _entries(at, "attributes", _attribute, lambda a: a.code, "attribute code", "code")
    return Service(
        service_code=code, label=label,
        names=_translations(at, "name"), descriptions=_translations(at, "description"),
        group=group.strip(), keywords=_words(at, "keywords"), type=stype, agency_responsible=agency,
        service_notices=_translations(at, "service_notice", required=False),
        expected_days=float(expected) if expected is not None else None,
        location_required=_flag(at, "location_required", True),
        attributes=tuple(sorted(attrs, key=lambda a: a.order)),
        private=_flag(at, "private", False),
        location_prompts=_translations(at, "location_prompt", required=False),
    )


def parse_catalogue(data: Any, source: str = "catalogue") -> Catalogue:
    top = _At(source, "services", data)
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise _At(source, "services", None).error("expected a top-level 'services:' list")
    _check_keys(_At(source, "(top level)", data), {"services"})
    services: dict[str, Service] = {}
    labels: dict[str, str] = {}
    for i, raw in enumerate(data["services"]):
        at = _At(source, f"services[{i}]", raw if isinstance(raw, dict) else data)
        service = _service(at)
        at = _At(source, f"services[{i}] ({service.service_code})", raw)
        if service.service_code in services:
            raise at.error(f"duplicate service_code {service.service_code!r}", "service_code")
        if service.label:
            if service.label in labels:
                raise at.error(f"{service.label!r} is already used by {labels[service.label]}", "label")
            labels[service.label] = service.service_code
        services[service.service_code] = service
    missing = [label for label in REPORT_LABELS if label not in labels]
    if missing:
        raise top.error(f"no service has label {missing[0]!r}; every report_* label the bot produces must map "
                        f"to a service")
    return Catalogue(services)


def load_catalogue(path: str | Path) -> Catalogue:
    path = Path(path)
    source = f"service catalogue {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{source}: cannot read: {exc.strerror or exc}", source) from exc
    try:
        data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise CatalogueError(f"{source}, line {line}: not valid YAML: {exc}", source, line) from exc
    return parse_catalogue(data, source)
