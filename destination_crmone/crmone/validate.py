"""Validation and normalisation of contact properties against CRM One's contact schema.

Everything here runs before anything is sent: a value CRM One would refuse is caught with a
reason a person can act on ("phone: '0301234' is not a valid phone number (region DE)"). Each
reason also comes as a `rule` that names the field and the rule but never the value ("phone:
not a valid phone number (region DE)"): what `redact_pii` shows. The functions are pure;
deciding whether an invalid value drops the field or the whole record is the mapping's job
(`invalid_values` in the config).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import langcodes
import phonenumbers
import pycountry
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from destination_crmone.timefmt import try_normalize_rfc3339

Severity = Literal["error", "warning"]

STRING_MAX = 1024
EXTERNAL_ID_MAX = 1024
STORE_PROPERTIES = ("store", "stores")


@dataclass(frozen=True)
class Issue:
    """One problem with one field of one record; `reason` is written for people."""

    field: str
    code: str
    reason: str
    severity: Severity = "error"
    rule: str = ""  # the reason without the value (empty: the reason quotes no value)

    def as_warning(self, reason_suffix: str = "") -> Issue:
        rule = self.rule + reason_suffix if self.rule else ""
        return Issue(self.field, self.code, self.reason + reason_suffix, "warning", rule)

    def without_value(self) -> Issue:
        """The same issue whose reason names the field and the rule, never the value."""
        return replace(self, reason=self.rule or self.reason, rule="")


# --- the tenant's schema -------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyDef:
    name: str
    type: str
    options: tuple[str, ...] = ()
    read_only: bool = False
    required: bool = False

    # what `_validate_value` remembers of this property's values: (type, value, region) →
    # (valid, the normalised value or the refusal); no part of ==, hash or repr
    outcomes: dict[tuple[Any, ...], tuple[bool, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )


@dataclass(frozen=True)
class ContactSchema:
    """`GET /v1/schema/contacts`, keyed by property name."""

    properties: Mapping[str, PropertyDef] = field(default_factory=dict)

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> ContactSchema:
        definitions: dict[str, PropertyDef] = {}
        for item in payload.get("properties") or []:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                continue  # a malformed definition describes nothing we could check against
            definitions[item["name"]] = PropertyDef(
                name=item["name"],
                type=str(item.get("type") or "string"),
                options=tuple(str(option) for option in item.get("options") or ()),
                read_only=bool(item.get("read_only", False)),
                required=bool(item.get("required", False)),
            )
        return cls(definitions)

    def __contains__(self, name: object) -> bool:
        return name in self.properties

    def get(self, name: str) -> PropertyDef | None:
        return self.properties.get(name)

    def is_required(self, name: str) -> bool:
        definition = self.properties.get(name)
        return definition is not None and definition.required

    @property
    def store_options(self) -> frozenset[str]:
        """The tenant's store keys: the options of `store` and `stores`."""
        return frozenset(
            option
            for name in STORE_PROPERTIES
            if (definition := self.properties.get(name)) is not None
            for option in definition.options
        )


# --- value checks --------------------------------------------------------------------------


class Invalid(ValueError):
    """A value that cannot be written; `code` is CRM One's error code for it, `rule` the
    reason without the value."""

    def __init__(self, reason: str, code: str = "invalid_value", *, rule: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.rule = rule or reason


# email-validator's messages, as rules that quote nothing of the address (first match wins).
EMAIL_RULES = (
    ("must have an @-sign", "missing '@'"),
    ("should have a period", "missing '.' in domain"),
    ("something before the @-sign", "nothing before '@'"),
    ("something after the @-sign", "nothing after '@'"),
    ("two periods in a row", "two periods in a row"),
    ("top-level domain", "not a valid top-level domain"),
    ("special-use or reserved", "a reserved domain name"),
    ("too long", "too long"),
    ("period", "misplaced '.'"),
    ("hyphen", "misplaced '-'"),
    ("before the @-sign", "invalid characters before '@'"),
    ("after the @-sign", "invalid characters after '@'"),
)


def email_rule(error: Exception) -> str:
    text = str(error)
    return next((rule for fragment, rule in EMAIL_RULES if fragment in text), "invalid syntax")


def shown(value: Any, limit: int = 80) -> str:
    """A value as it appears in a reason: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        kind = type(value).__name__
        raise Invalid(
            f"expected {what} as a string, got {kind} {shown(value)}",
            rule=f"expected {what} as a string, got {kind}",
        )
    return value.strip()


# Plain ASCII addresses (`name.surname+tag@mail.example.com`) that email-validator accepts
# unchanged: letters, digits and `._+-` before the `@` (no leading, trailing or double dot),
# LDH labels after it (no `--`, so no IDNA), a TLD of letters. Everything else is asked of
# the library; unit_tests/destination/test_validate.py checks both agree.
_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _special_use(domain: str) -> bool:
    """Is the domain, or a domain it is under, one email-validator refuses (`test`, `local`…)?"""
    while domain not in _SPECIAL_USE:
        _, dot, domain = domain.partition(".")
        if not dot:
            return False
    return True


def _plain_email(text: str) -> bool:
    local, _, domain = text.partition("@")
    return (
        len(text) <= 254
        and len(local) <= 64
        and len(domain) <= 253
        and "--" not in domain
        and _PLAIN_EMAIL.match(text) is not None
        and not _special_use(domain)
    )


def normalize_email(value: Any) -> str:
    text = _text(value, "an email address").lower()
    if _plain_email(text):
        return text
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as error:
        reason = f"{shown(text)} is not a valid email address: {error}"
        rule = f"not a valid address ({email_rule(error)})"
        raise Invalid(reason, "invalid_email", rule=rule) from None


# phonenumbers looks its metadata's patterns up in `re`'s small cache about ten times a
# number; its own switch keeps them compiled instead (same patterns, same answers).
if hasattr(phonenumbers, "enable_pattern_cache"):  # not in every release we accept
    phonenumbers.enable_pattern_cache()

_PUNCTUATED_DIGITS = re.compile(r"^\+?[\d\s\-./()]+$")
_PUNCTUATION = re.compile(r"[^\d+]")


def _digits_only(text: str) -> str:
    """`+49 (0)30 123-45` → `+4903012345`: phonenumbers reads both
    the same and the short form several times faster; text with letters (`ext.`, vanity
    numbers) is passed as is. unit_tests/destination/test_validate.py checks they agree."""
    return _PUNCTUATION.sub("", text) if _PUNCTUATED_DIGITS.match(text) else text


def normalize_phone(value: Any, default_region: str | None) -> str:
    text = _text(value, "a phone number")
    region = default_region.upper() if default_region else None
    where = f"region {region}" if region else "no address country"
    try:
        number = phonenumbers.parse(_digits_only(text), region)
    except phonenumbers.NumberParseException as error:
        rule = f"not a phone number ({where}): {error.args[0]}"
        raise Invalid(f"{shown(text)} is {rule}", "invalid_phone", rule=rule) from None
    if not phonenumbers.is_valid_number(number):
        rule = f"not a valid phone number ({where})"
        raise Invalid(f"{shown(text)} is {rule}", "invalid_phone", rule=rule)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_country(value: Any) -> str:
    code = _text(value, "an ISO 3166-1 alpha-2 country code").upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        rule = "not an ISO 3166-1 alpha-2 country code"
        raise Invalid(f"{shown(value)} is {rule}", rule=rule)
    return code


def is_country(code: str | None) -> bool:
    return isinstance(code, str) and _is_country_code(code)


@functools.lru_cache(maxsize=1024)  # an address's country: a few hundred codes at most
def _is_country_code(code: str) -> bool:
    try:
        return normalize_country(code) == code.strip().upper()
    except Invalid:
        return False


def normalize_locale(value: Any) -> str:
    """BCP 47 in its canonical case: `de_de` → `de-DE`, `zh-hant-tw` → `zh-Hant-TW`."""
    text = _text(value, "a BCP 47 locale")
    try:
        tag = langcodes.standardize_tag(text.replace("_", "-"))
    except (langcodes.LanguageTagError, ValueError) as error:
        rule = "not a BCP 47 locale"
        raise Invalid(f"{shown(value)} is {rule}: {error}", rule=rule) from None
    territory = langcodes.Language.get(tag).territory
    valid_territory = territory is None or territory.isdigit() or is_country(territory)
    if not langcodes.tag_is_valid(tag) or not valid_territory:
        rule = "not a BCP 47 locale with a known language and region"
        raise Invalid(f"{shown(value)} is {rule}", rule=rule)
    return tag


def normalize_currency(value: Any) -> str:
    code = _text(value, "an ISO 4217 currency code").upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        rule = "not an ISO 4217 currency code"
        raise Invalid(f"{shown(value)} is {rule}", rule=rule)
    return code


_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def cents_to_decimal(cents: int, fraction_digits: int) -> str:
    """5990, 2 → "59.90"; 5990, 0 → "5990"; -5, 2 → "-0.05"."""
    return f"{Decimal(cents).scaleb(-fraction_digits):.{fraction_digits}f}"


def money_amount(money: Mapping[str, Any]) -> str:
    """The decimal amount of a commercetools Money (cent or high precision)."""
    digits = money.get("fractionDigits", 2)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 20:
        rule = "fractionDigits is not a small non-negative integer"
        raise Invalid(
            f"fractionDigits {shown(digits)} is not a small non-negative integer", rule=rule
        )
    if money.get("type") == "highPrecision" and "preciseAmount" in money:
        cents = money["preciseAmount"]
    else:
        cents = money.get("centAmount")
    if isinstance(cents, bool) or not isinstance(cents, int):
        rule = "amount is not an integer number of cents"
        raise Invalid(f"amount {shown(cents)} is not an integer number of cents", rule=rule)
    return cents_to_decimal(cents, digits)


def normalize_money(value: Any) -> dict[str, str]:
    """`{"amount": "12.34", "currency": "EUR"}` from that shape or from a commercetools Money."""
    if not isinstance(value, Mapping):
        rule = "expected money as {amount, currency}"
        raise Invalid(f"{rule}, got {shown(value)}", rule=rule)
    if "centAmount" in value or "preciseAmount" in value:
        return {
            "amount": money_amount(value),
            "currency": normalize_currency(value.get("currencyCode")),
        }
    amount = value.get("amount")
    if isinstance(amount, int | float) and not isinstance(amount, bool) and math.isfinite(amount):
        amount = str(Decimal(str(amount)))
    if not isinstance(amount, str) or not _DECIMAL.match(amount.strip()):
        rule = "money amount is not a decimal number"
        raise Invalid(f"money amount {shown(amount)} is not a decimal number", rule=rule)
    return {"amount": amount.strip(), "currency": normalize_currency(value.get("currency"))}


def normalize_date(value: Any) -> str:
    text = _text(value, "a date (YYYY-MM-DD)")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        rule = "not a date (YYYY-MM-DD)"
        raise Invalid(f"{shown(value)} is {rule}", rule=rule) from None


def normalize_datetime(value: Any) -> str:
    text = _text(value, "an RFC 3339 date-time")
    normalized = instant(text)
    if normalized is None:
        rule = "not an RFC 3339 date-time with a time zone"
        raise Invalid(f"{shown(value)} is {rule}", rule=rule)
    return normalized


def instant(value: object) -> str | None:
    """`try_normalize_rfc3339`, remembered for recent strings: one customer's timestamps
    repeat (`createdAt`, `lastModifiedAt`, consent stamps and the properties that carry them)."""
    return _instant_text(value) if type(value) is str else try_normalize_rfc3339(value)


@functools.lru_cache(maxsize=1024)
def _instant_text(text: str) -> str | None:
    return try_normalize_rfc3339(text)


def normalize_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise Invalid(
            f"{shown(value)} is a boolean, not an integer", rule="a boolean, not an integer"
        )
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    raise Invalid(f"{shown(value)} is not an integer", rule="not an integer")


def normalize_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise Invalid(f"{shown(value)} is a boolean, not a number", rule="a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        return float(value.strip())
    raise Invalid(f"{shown(value)} is not a finite number", rule="not a finite number")


def normalize_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Invalid(f"{shown(value)} is not a boolean", rule="not a boolean")


def normalize_string(value: Any, limit: int | None = STRING_MAX) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        kind = type(value).__name__
        raise Invalid(
            f"expected text, got {kind} {shown(value)}", rule=f"expected text, got {kind}"
        )
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        rule = f"{len(text)} characters long, over {limit}"
        raise Invalid(f"{shown(text, 40)} is {rule}", rule=rule)
    return text


def normalize_enum(value: Any, options: Iterable[str], what: str = "the allowed options") -> str:
    allowed = tuple(options)
    text = _text(value, "an option")
    if text not in allowed:
        rule = f"not one of {what} {list(allowed)}"
        raise Invalid(f"{shown(text)} is {rule}", "invalid_enum", rule=rule)
    return text


def _options_name(definition: PropertyDef) -> str:
    return "the tenant's stores" if definition.name in STORE_PROPERTIES else "the options"


Check = Callable[[Any, PropertyDef, "str | None"], Any]
CHECKS: dict[str, Check] = {
    "email": lambda v, d, region: normalize_email(v),
    "phone": lambda v, d, region: normalize_phone(v, region),
    "country": lambda v, d, region: normalize_country(v),
    "locale": lambda v, d, region: normalize_locale(v),
    "currency": lambda v, d, region: normalize_currency(v),
    "money": lambda v, d, region: normalize_money(v),
    "date": lambda v, d, region: normalize_date(v),
    "datetime": lambda v, d, region: normalize_datetime(v),
    "integer": lambda v, d, region: normalize_integer(v),
    "number": lambda v, d, region: normalize_number(v),
    "boolean": lambda v, d, region: normalize_boolean(v),
    "string": lambda v, d, region: normalize_string(v),
    "text": lambda v, d, region: normalize_string(v, limit=None),
    "enum": lambda v, d, region: normalize_enum(v, d.options, _options_name(d)),
}
# Outcomes remembered per property and distinct value (names, cities, countries, phones…
# repeat across records; email-validator and phonenumbers cost tens of microseconds a call).
CACHE_SIZE = 1 << 15
CACHEABLE = frozenset({str, int, float, bool})


def _validate_value(definition: PropertyDef, value: Any, default_region: str | None) -> Any:
    """The normalised value of one property; `Invalid` when it cannot be written."""
    check = CHECKS.get(definition.type)
    if check is None:
        return value  # a type we do not know: CRM One decides
    region = default_region if definition.type == "phone" else None
    if type(value) not in CACHEABLE:
        return check(value, definition, region)  # lists, objects: not cached
    outcomes = definition.outcomes
    key = (type(value), value, region)  # the type keeps True apart from 1
    outcome = outcomes.get(key)
    if outcome is None:
        if len(outcomes) >= CACHE_SIZE:
            outcomes.clear()
        try:
            outcome = outcomes[key] = (True, check(value, definition, region))
        except Invalid as error:
            outcome = outcomes[key] = (False, error)
    if not outcome[0]:
        raise copy.copy(outcome[1])  # every attribute of the first refusal, a fresh traceback
    return outcome[1]


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_properties(
    props: Mapping[str, Any], schema: ContactSchema, *, default_region: str | None
) -> tuple[dict[str, Any], list[Issue]]:
    """Cleaned values of the valid properties, and an error `Issue` for each invalid one.

    A blank value (None or whitespace) is kept as None ("no value": clears it in CRM One).
    A `multi_enum` keeps its valid members (de-duplicated) and reports each invalid one.
    """
    clean: dict[str, Any] = {}
    issues: list[Issue] = []
    definitions = schema.properties
    for name, value in props.items():
        definition = definitions.get(name)
        if definition is None:
            issues.append(
                Issue(name, "unknown_property", f"{name}: CRM One has no contact property {name!r}")
            )
            continue
        if definition.read_only:
            issues.append(
                Issue(name, "read_only_property", f"{name}: the property is read-only in CRM One")
            )
            continue
        if value is None or (isinstance(value, str) and not value.strip()):  # blank: no value
            clean[name] = None
            continue
        if definition.type == "multi_enum":
            members, member_issues = _validate_multi_enum(definition, value)
            clean[name] = members
            issues.extend(member_issues)
            continue
        try:
            clean[name] = _validate_value(definition, value, default_region)
        except Invalid as error:
            issues.append(Issue(name, error.code, f"{name}: {error}", rule=f"{name}: {error.rule}"))
    return clean, issues


def _validate_multi_enum(definition: PropertyDef, value: Any) -> tuple[list[str], list[Issue]]:
    name = definition.name
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        reason = f"{name}: expected a list, got {shown(value)}"
        rule = f"{name}: expected a list, got {type(value).__name__}"
        return [], [Issue(name, "invalid_value", reason, rule=rule)]
    members: list[str] = []
    issues: list[Issue] = []
    for member in value:
        try:
            option = normalize_enum(member, definition.options, _options_name(definition))
        except Invalid as error:
            issues.append(Issue(name, error.code, f"{name}: {error}", rule=f"{name}: {error.rule}"))
            continue
        if option not in members:
            members.append(option)
    return members, issues


def check_match_key(external_id: Any, source_field: str) -> list[Issue]:
    """The record-level rule: the contact's match key must be present and writable."""
    if _is_blank(external_id):
        reason = f"external_id: the customer has no {source_field!r}, the configured match key"
        return [Issue("external_id", "missing_external_id", reason)]
    if not isinstance(external_id, str) or len(external_id) > EXTERNAL_ID_MAX:
        rule = f"not a string of at most {EXTERNAL_ID_MAX} characters"
        reason = f"external_id: {shown(external_id)} is {rule}"
        return [Issue("external_id", "invalid_external_id", reason, rule=f"external_id: {rule}")]
    return []


def issue_summary(issues: list[Issue]) -> tuple[str, str]:
    """(code, reasons) of a record's issues: the first code, every reason."""
    return (issues[0].code if issues else "invalid"), "; ".join(i.reason for i in issues)
