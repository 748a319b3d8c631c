"""A customer's fields as mappings and conditions name them: addresses by role, localized
values in the customer's language, and the few paths that are not plain record paths.

- Addresses: `billing` is the default billing address, else the first; `shipping` the default
  shipping address, else the billing one. A reorder of `addresses` changes neither.
- Paths: `stores` (store keys), `country` (of the billing address), `customerGroup.key`,
  `address.<role>.<field>` and `address.<field>` (billing); anything else is a path into the
  record (`custom.fields.loyaltyTier`, `locale`). An address field is a commercetools field
  (`postalCode`) or one of the CRM-shaped names of `ADDRESS_FIELDS` (`postal_code`, `street`).
- Localized values: a LocalizedString (`{"de": "…", "en": "…"}`) read in the first language
  of a preference list (`language_preferences`): the customer's locale, its stores'
  languages, the configured fallback. `de-AT` takes `de-AT`, else `de`, else another `de-*`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

AddressRole = Literal["billing", "shipping"]
ADDRESS_ROLES: tuple[AddressRole, ...] = ("billing", "shipping")
CUSTOMER_LOCALE = "customer"  # a field mapping's `locale` that means "the customer's own"


# --- plain paths ---------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    """A list field of a record; anything else (absent, malformed) reads as empty."""
    return value if isinstance(value, list) else []


def get_path(record: Any, path: str) -> Any:
    """The value at a dotted path (`custom.fields.loyaltyTier`, `addresses.0.city`), or None."""
    value = record
    for part in _path_parts(path):
        if type(value) is dict or isinstance(value, Mapping):  # dict first: no ABC check
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


@functools.cache
def _path_parts(path: str) -> tuple[str, ...]:
    """A dotted path split once (paths come from the code and the config: a handful)."""
    return tuple(path.split("."))


def customer_store_keys(record: Mapping[str, Any]) -> list[str]:
    """`stores[].key` in order; for a global customer read in a store, that store."""
    keys: list[str] = []
    for reference in _items(record.get("stores")):
        key = reference.get("key") if isinstance(reference, Mapping) else None
        if isinstance(key, str) and key and key not in keys:
            keys.append(key)
    if not keys and isinstance(record.get("_ab_store_key"), str):
        keys.append(record["_ab_store_key"])
    return keys


def customer_group(record: Mapping[str, Any]) -> str | None:
    """The customer group's key (of the expanded reference, else the reference), else its id."""
    reference = record.get("customerGroup")
    if not isinstance(reference, Mapping):
        return None
    expanded = reference.get("obj") if isinstance(reference.get("obj"), Mapping) else {}
    return expanded.get("key") or reference.get("key") or reference.get("id")


# --- addresses -----------------------------------------------------------------------------


def _addresses(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in _items(record.get("addresses")) if isinstance(a, Mapping)]


def _by_id(addresses: list[Mapping[str, Any]], address_id: Any) -> Mapping[str, Any] | None:
    if address_id is None:
        return None
    return next((a for a in addresses if a.get("id") == address_id), None)


def billing_address(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The default billing address, else the first address, else an empty one."""
    addresses = _addresses(record)
    found = _by_id(addresses, record.get("defaultBillingAddressId"))
    return found if found is not None else (addresses[0] if addresses else {})


def shipping_address(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The default shipping address, else the billing address."""
    found = _by_id(_addresses(record), record.get("defaultShippingAddressId"))
    return found if found is not None else billing_address(record)


ADDRESS_OF: dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {
    "billing": billing_address,
    "shipping": shipping_address,
}


def street(address: Mapping[str, Any]) -> str | None:
    parts = [address.get("streetName"), address.get("streetNumber")]
    text = " ".join(str(part).strip() for part in parts if part not in (None, ""))
    return text or None


# CRM-shaped names of an address's fields (the names of CRM One's address properties).
ADDRESS_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "street": street,
    "postal_code": lambda address: address.get("postalCode"),
    "city": lambda address: address.get("city"),
    "region": lambda address: address.get("region") or address.get("state"),
    "country": lambda address: address.get("country"),
    "phone": lambda address: address.get("phone"),
    "mobile_phone": lambda address: address.get("mobile"),
}


def address_value(address: Mapping[str, Any], name: str) -> Any:
    """A field of an address: a CRM-shaped name of `ADDRESS_FIELDS` or a commercetools path."""
    read = ADDRESS_FIELDS.get(name)
    return read(address) if read is not None else get_path(address, name)


def split_address_path(path: str) -> tuple[AddressRole, str] | None:
    """`address.shipping.city` → (shipping, city); `address.city` → (billing, city); else None."""
    if not path.startswith("address."):
        return None
    rest = path.removeprefix("address.")
    role, _, field = rest.partition(".")
    if role in ADDRESS_ROLES and field:
        return role, field  # type: ignore[return-value]
    return "billing", rest


# --- paths ---------------------------------------------------------------------------------


def customer_value(record: Mapping[str, Any], path: str) -> Any:
    """The value a mapping or a condition names (see the module's docstring)."""
    if path == "stores":
        return customer_store_keys(record)
    if path == "country":
        return billing_address(record).get("country")
    if path == "customerGroup.key":
        return customer_group(record)
    on_address = split_address_path(path)
    if on_address is not None:
        role, field = on_address
        return address_value(ADDRESS_OF[role](record), field)
    return get_path(record, path)


# --- localized values ----------------------------------------------------------------------


def mapped_source_value(
    record: Mapping[str, Any],
    source: str,
    locale: str | None,
    languages_of: Mapping[str, Sequence[str]],
    fallback: str,
) -> Any:
    """A field mapping's value: the source path's value, read in a language when `locale` is
    set (`customer`: the customer's locale, its stores' languages (`languages_of` by store
    key), then `fallback`; else that fixed language)."""
    value = customer_value(record, source)
    if locale is None:
        return value
    if locale == CUSTOMER_LOCALE:
        stores = [tag for key in customer_store_keys(record) for tag in languages_of.get(key, ())]
        preferences = language_preferences(record.get("locale"), stores, fallback)
    else:
        preferences = language_preferences(locale, (), fallback)[:1]
    return localized(value, preferences)


def _tag(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().replace("_", "-").lower()


def language_preferences(
    customer_locale: Any, store_languages: Iterable[Any], fallback: str
) -> list[str]:
    """The languages to read a localized value in, in order, without repeats."""
    tags = [_tag(customer_locale), *(_tag(lang) for lang in store_languages), _tag(fallback)]
    return list(dict.fromkeys(tag for tag in tags if tag))


def localized(value: Any, preferences: Sequence[str]) -> Any:
    """A LocalizedString's text in the first preferred language it has (exact tag, then the
    same language: `de-AT` → `de` → `de-DE`); None when it has none of them. A value that is
    not a LocalizedString is returned as it is."""
    if not isinstance(value, Mapping):
        return value
    texts = {tag: text for key, text in value.items() if (tag := _tag(key)) and text is not None}
    for wanted in preferences:
        if wanted in texts:
            return texts[wanted]
        language = wanted.split("-", 1)[0]
        if language in texts:
            return texts[language]
        same = sorted(tag for tag in texts if tag.split("-", 1)[0] == language)
        if same:
            return texts[same[0]]
    return None


def store_languages(record: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(key, languages) of a `stores` record, or None when it has no key."""
    key = record.get("key")
    if not isinstance(key, str) or not key:
        return None
    return key, [tag for tag in _items(record.get("languages")) if isinstance(tag, str) and tag]
