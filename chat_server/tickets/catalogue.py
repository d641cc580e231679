"""The service catalogue: which Open311 services exist, and what a valid request for each looks like.

Loaded once at startup from YAML; any mistake (missing name translation, unknown datatype,
a list attribute without values, a report_* label nobody maps) stops startup with a message
naming the entry, because a catalogue error found by a resident at 2 a.m. is a lost report.
Pure logic: no I/O beyond reading the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

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
MAX_STRING_ATTR = 500
MAX_TEXT_ATTR = 4000


class CatalogueError(ValueError):
    """The catalogue file is invalid; the message names the entry and the key."""


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

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions["en"]

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

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions["en"]

    def service_notice(self, language: str) -> str | None:
        return self.service_notices.get(language) or self.service_notices.get("en")

    def attribute(self, code: str) -> ServiceAttribute | None:
        return next((a for a in self.attributes if a.code == code), None)

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
            out[attr.code] = value  # type: ignore[assignment]
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

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.services.values())


# --------------------------------------------------------------------------- loading
def _translations(value: Any, where: str, required: bool = True) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise CatalogueError(f"{where}: expected a mapping of languages (en, es), got {value!r}")
    out = {str(k): str(v).strip() for k, v in value.items() if v is not None}
    missing = [lang for lang in LANGUAGES if not out.get(lang)]
    if missing:
        raise CatalogueError(f"{where}: missing the {', '.join(missing)} text")
    extra = sorted(set(out) - set(LANGUAGES))
    if extra:
        raise CatalogueError(f"{where}: unsupported language {extra[0]!r} (supported: {', '.join(LANGUAGES)})")
    return out


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise CatalogueError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(allowed))}")


_SERVICE_KEYS = {"service_code", "label", "name", "description", "group", "keywords", "type", "agency_responsible",
                 "service_notice", "expected_days", "location_required", "attributes"}
_ATTR_KEYS = {"code", "datatype", "required", "order", "description", "datatype_description", "values", "variable"}


def _attribute(data: Any, where: str, position: int) -> ServiceAttribute:
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: expected a mapping, got {data!r}")
    code = data.get("code")
    if isinstance(code, str):
        where = f"{where} ({code})"
    _check_keys(data, _ATTR_KEYS, where)
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise CatalogueError(f"{where}: code must be letters, digits, _ . - (got {code!r})")
    datatype = data.get("datatype")
    if datatype not in DATATYPES:
        raise CatalogueError(f"{where}: datatype must be one of {', '.join(DATATYPES)} (got {datatype!r})")
    required = data.get("required", False)
    if not isinstance(required, bool):
        raise CatalogueError(f"{where}: required must be true or false")
    order = data.get("order", position)
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise CatalogueError(f"{where}: order must be a positive integer")
    values: list[AttributeValue] = []
    raw_values = data.get("values") or []
    if not isinstance(raw_values, list):
        raise CatalogueError(f"{where}: values must be a list")
    for i, raw in enumerate(raw_values):
        vwhere = f"{where}.values[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
            raise CatalogueError(f"{vwhere}: expected {{key: ..., name: {{en, es}}}} with a string key (quote yes/no)")
        _check_keys(raw, {"key", "name"}, vwhere)
        if any(v.key == raw["key"] for v in values):
            raise CatalogueError(f"{vwhere}: duplicate key {raw['key']!r}")
        values.append(AttributeValue(raw["key"], _translations(raw.get("name"), f"{vwhere}.name")))
    is_list = datatype in ("singlevaluelist", "multivaluelist")
    if is_list and not values:
        raise CatalogueError(f"{where}: a {datatype} needs values")
    if not is_list and values:
        raise CatalogueError(f"{where}: values are only allowed for singlevaluelist/multivaluelist")
    variable = data.get("variable", True)
    if not isinstance(variable, bool):
        raise CatalogueError(f"{where}: variable must be true or false")
    return ServiceAttribute(
        code=code, datatype=datatype, required=required, order=order,
        descriptions=_translations(data.get("description"), f"{where}.description"),
        datatype_descriptions=_translations(data.get("datatype_description"), f"{where}.datatype_description",
                                            required=False),
        values=tuple(values), variable=variable,
    )


def _service(data: Any, where: str) -> Service:
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: expected a mapping, got {data!r}")
    code = data.get("service_code")
    if isinstance(code, str):
        where = f"{where} ({code})"
    _check_keys(data, _SERVICE_KEYS, where)
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise CatalogueError(f"{where}: service_code must be letters, digits, _ . - (got {code!r})")
    label = data.get("label")
    if label is not None and (not isinstance(label, str) or not label):
        raise CatalogueError(f"{where}: label must be a string")
    group = data.get("group")
    if not isinstance(group, str) or not group.strip():
        raise CatalogueError(f"{where}: group is required")
    keywords = data.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise CatalogueError(f"{where}: keywords must be a list of strings")
    stype = data.get("type", "realtime")
    if stype not in SERVICE_TYPES:
        raise CatalogueError(f"{where}: type must be one of {', '.join(SERVICE_TYPES)}")
    expected = data.get("expected_days")
    if expected is not None and (not isinstance(expected, int | float) or isinstance(expected, bool) or expected < 0):
        raise CatalogueError(f"{where}: expected_days must be a non-negative number")
    location_required = data.get("location_required", True)
    if not isinstance(location_required, bool):
        raise CatalogueError(f"{where}: location_required must be true or false")
    agency = data.get("agency_responsible")
    if agency is not None and not isinstance(agency, str):
        raise CatalogueError(f"{where}: agency_responsible must be a string")
    raw_attrs = data.get("attributes") or []
    if not isinstance(raw_attrs, list):
        raise CatalogueError(f"{where}: attributes must be a list")
    attrs = [_attribute(a, f"{where}.attributes[{i}]", i + 1) for i, a in enumerate(raw_attrs)]
    seen: set[str] = set()
    for attr in attrs:
        if attr.code in seen:
            raise CatalogueError(f"{where}: duplicate attribute code {attr.code!r}")
        seen.add(attr.code)
    return Service(
        service_code=code, label=label,
        names=_translations(data.get("name"), f"{where}.name"),
        descriptions=_translations(data.get("description"), f"{where}.description"),
        group=group.strip(), keywords=tuple(keywords), type=stype, agency_responsible=agency,
        service_notices=_translations(data.get("service_notice"), f"{where}.service_notice", required=False),
        expected_days=float(expected) if expected is not None else None,
        location_required=location_required,
        attributes=tuple(sorted(attrs, key=lambda a: a.order)),
    )


def parse_catalogue(data: Any, source: str = "catalogue") -> Catalogue:
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise CatalogueError(f"{source}: expected a top-level 'services:' list")
    _check_keys(data, {"services"}, source)
    services: dict[str, Service] = {}
    labels: dict[str, str] = {}
    for i, raw in enumerate(data["services"]):
        service = _service(raw, f"{source}: services[{i}]")
        if service.service_code in services:
            raise CatalogueError(f"{source}: services[{i}]: duplicate service_code {service.service_code!r}")
        if service.label:
            if service.label in labels:
                raise CatalogueError(f"{source}: services[{i}] ({service.service_code}): label {service.label!r} "
                                     f"is already used by {labels[service.label]}")
            labels[service.label] = service.service_code
        services[service.service_code] = service
    missing = [label for label in REPORT_LABELS if label not in labels]
    if missing:
        raise CatalogueError(f"{source}: no service has label {missing[0]!r}; every report_* label the bot "
                             f"produces must map to a service")
    return Catalogue(services)


def load_catalogue(path: str | Path) -> Catalogue:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"service catalogue {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"service catalogue {path}: not valid YAML: {exc}") from exc
    return parse_catalogue(data, f"service catalogue {path}")
