"""commercetools records → CRM One payloads (contacts, consents, list memberships, activities,
`orders` objects, deletions). Pure functions: no I/O, every problem returned as an `Issue`.

Records are commercetools resources exactly as the source emits them (see docs/internals.md):
a customer's `stores` are key references, its addresses a list with `defaultBillingAddressId`,
consent flags live in `custom.fields`; orders carry `customerId`/`customerEmail`, `totalPrice`
as commercetools Money and an optional `store` key reference. Records read through an in-store
endpoint also carry `_ab_store_key`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson

from connectors_common.personal import personal_paths
from destination_crmone.config import ConsentMapping, DestinationConfig, Identity
from destination_crmone.crmone.validate import (
    ContactSchema,
    Invalid,
    Issue,
    check_match_key,
    instant,
    is_country,
    money_amount,
    normalize_boolean,
    normalize_currency,
    normalize_email,
    shown,
    validate_properties,
)
from destination_crmone.customer_fields import (
    ADDRESS_FIELDS,
    _items,
    billing_address,
    customer_group,
    customer_store_keys,
    customer_value,
    get_path,
    mapped_source_value,
    shipping_address,
    street,
)
from destination_crmone.segments import Routed, route, routed_property_names
from destination_crmone.timefmt import try_normalize_rfc3339

CONSENT_SOURCE = "commercetools"
ORDER_OBJECT_TYPE = "orders"
DeletionAction = Literal["archive", "erase", "ignore"]


# --- payloads ------------------------------------------------------------------------------


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class ConsentPayload:
    """One record of `POST /v1/consents/batch`."""

    contact_external_id: str
    channel: str
    purpose: str
    status: Literal["granted", "withdrawn"]
    updated_at: str
    evidence: Mapping[str, str]
    source: str = CONSENT_SOURCE

    def to_api(self) -> dict[str, Any]:
        return {
            "contact_external_id": self.contact_external_id,
            "channel": self.channel,
            "purpose": self.purpose,
            "status": self.status,
            "updated_at": self.updated_at,
            "source": self.source,
            "evidence": dict(self.evidence),
        }


@dataclass
class MappedContact:
    """A customer as CRM One will see it: the contact upsert, its consents and its lists.

    `properties` holds only valid, normalised values (None = "no value"); whether to send each
    one is `merge.decide`'s call. `rejected` means nothing of this record may be sent.
    """

    source_id: str | None
    source_version: int | None
    external_id: str | None
    email: str | None
    properties: dict[str, Any]
    source_updated_at: str | None
    consents: list[ConsentPayload] = field(default_factory=list)
    list_ids: list[str] = field(default_factory=list)
    routed_properties: tuple[str, ...] = ()  # the names routing set (cleared on leaving)
    issues: list[Issue] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return any(issue.severity == "error" for issue in self.issues)

    @property
    def routed(self) -> Routed:
        """What routing gave this contact (for the journal's memory)."""
        return Routed(tuple(self.list_ids), dict.fromkeys(self.routed_properties))

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "warning"]

    def upsert_record(self, properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One record of `POST /v1/contacts/batch/upsert` (by default with every property)."""
        record: dict[str, Any] = {
            "external_id": self.external_id,
            "properties": dict(self.properties if properties is None else properties),
        }
        if self.source_updated_at is not None:
            record["source_updated_at"] = self.source_updated_at
        return record


ContactPayload = MappedContact


@dataclass(frozen=True)
class ActivityPayload:
    """One record of `POST /v1/activities/batch`."""

    external_id: str
    type: str
    occurred_at: str
    subject: str
    contact_external_id: str | None = None
    contact_email: str | None = None
    amount: Mapping[str, str] | None = None
    store: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return _without_none(
            {
                "external_id": self.external_id,
                "contact_external_id": self.contact_external_id,
                "contact_email": self.contact_email,
                "type": self.type,
                "occurred_at": self.occurred_at,
                "subject": self.subject,
                "amount": dict(self.amount) if self.amount is not None else None,
                "store": self.store,
                "properties": dict(self.properties),
            }
        )


@dataclass(frozen=True)
class ObjectPayload:
    """One record of `POST /v1/objects/{type}/batch/upsert`.

    The contract names only `contact_external_id` for objects; a guest order carries
    `contact_email` instead, as activities do (our choice where the contract is silent).
    """

    external_id: str
    properties: Mapping[str, Any]
    contact_external_id: str | None = None
    contact_email: str | None = None
    type: str = ORDER_OBJECT_TYPE

    def to_api(self) -> dict[str, Any]:
        return _without_none(
            {
                "external_id": self.external_id,
                "contact_external_id": self.contact_external_id,
                "contact_email": self.contact_email,
                "properties": dict(self.properties),
            }
        )


@dataclass
class MappedOrder:
    """An order's activities and/or `orders` object, attached to one contact.

    `skipped_reason` is set when policy says not to write the order (a guest order under
    `guest_orders: skip`, or one without an email); that is not an error.
    """

    source_id: str | None
    source_version: int | None
    customer_id: str | None
    contact_external_id: str | None = None
    contact_email: str | None = None
    activities: list[ActivityPayload] = field(default_factory=list)
    object: ObjectPayload | None = None
    issues: list[Issue] = field(default_factory=list)
    skipped_reason: str | None = None

    @property
    def rejected(self) -> bool:
        return any(issue.severity == "error" for issue in self.issues)

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def contact_key(self) -> str | None:
        return contact_key(self.contact_external_id, self.contact_email)


@dataclass(frozen=True)
class Deletion:
    """A `CustomerDeleted` message: what to do with that customer's contact.

    `external_id` is None when the identity is not the customer id (a deleted customer's
    `key`/`externalId`/`customerNumber` is not in the message): look it up by `customer_id`.
    """

    customer_id: str
    external_id: str | None
    action: DeletionAction
    occurred_at: str | None = None
    message_id: str | None = None
    issues: tuple[Issue, ...] = ()

    @property
    def rejected(self) -> bool:
        return any(issue.severity == "error" for issue in self.issues)


# --- reading records -----------------------------------------------------------------------


# Reads one CRM One property's raw value from (customer, chosen address, its store keys).
Extract = Callable[[Mapping[str, Any], Mapping[str, Any], list[str]], Any]


def _path(path: str) -> Extract:
    """A field of the customer; `address.*` a field of its billing address. A plain name is
    one `get` (what `get_path` does for it, without walking a path)."""
    on_address = path.startswith("address.")
    name = path.removeprefix("address.") if on_address else path
    if on_address:
        return lambda record, address, stores: address.get(name)
    return lambda record, address, stores: record.get(name)


# The default mapping: CRM One property ← (customer, billing address, store keys) → raw value.
DEFAULT_CUSTOMER_FIELDS: dict[str, Extract] = {
    "email": _path("email"),
    "first_name": _path("firstName"),
    "last_name": _path("lastName"),
    "salutation": _path("salutation"),
    "title": _path("title"),
    "birth_date": _path("dateOfBirth"),
    "company": _path("companyName"),
    "vat_id": _path("vatId"),
    "street": lambda record, address, stores: street(address),
    "postal_code": _path("address.postalCode"),
    "city": _path("address.city"),
    "region": lambda record, address, stores: address.get("region") or address.get("state"),
    "country": _path("address.country"),
    "phone": _path("address.phone"),
    "mobile_phone": _path("address.mobile"),
    "locale": _path("locale"),
    "stores": lambda record, address, stores: list(stores),
    "store": lambda record, address, stores: stores[0] if stores else None,
    "customer_group": lambda record, address, stores: customer_group(record),
    "source_created_at": _path("createdAt"),
    "source_updated_at": _path("lastModifiedAt"),
}


def personal_properties() -> frozenset[str]:
    """The CRM One properties the default mapping fills from a personal field of the
    customer (those the schema annotates `x-personal`): found by mapping a probe customer
    whose personal fields hold markers, so the list follows the mapping and the schema."""
    record: dict[str, Any] = {}
    address: dict[str, Any] = {}
    markers = []
    for index, path in enumerate(personal_paths("customers")):
        marker = f"personal-probe-{index}"
        markers.append(marker)
        if path.startswith("addresses[]."):
            address[path.removeprefix("addresses[].")] = marker
        elif "." not in path and "[]" not in path:
            record[path] = marker
    record["addresses"] = [address]
    return frozenset(
        name
        for name, extract in DEFAULT_CUSTOMER_FIELDS.items()
        if any(marker in str(extract(record, address, [])) for marker in markers)
    )


# Written from the shipping address when the tenant has these (not standard) properties.
SHIPPING_PROPERTIES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    f"shipping_{name}": ADDRESS_FIELDS[name]
    for name in ("street", "postal_code", "city", "region", "country")
}


def mapped_property_names(config: DestinationConfig) -> list[str]:
    """Every CRM One property the config may write (for `check` against the schema)."""
    names = list(DEFAULT_CUSTOMER_FIELDS)
    extra = [mapping.target for mapping in config.field_mappings]
    extra += routed_property_names(config)
    return names + [name for name in dict.fromkeys(extra) if name not in names]


def unwritable_properties(config: DestinationConfig, schema: ContactSchema) -> list[str]:
    """Mapped properties the tenant lacks or marks read-only: `check` names them."""
    return [
        name
        for name in mapped_property_names(config)
        if (definition := schema.get(name)) is None or definition.read_only
    ]


def route_value(value: Any, schema: ContactSchema, name: str) -> Any:
    """A routed value as the form gives it (text), in the type of the tenant's property
    when the text reads as one ("42" for a number, "true" for a boolean); else as given, for
    validation to accept or reject with a reason."""
    definition = schema.get(name)
    if not isinstance(value, str) or definition is None:
        return value
    if definition.type not in ("integer", "number", "boolean"):
        return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return parsed if isinstance(parsed, int | float | bool) else value


def contact_key(external_id: str | None = None, email: str | None = None) -> str | None:
    """The journal's key of a contact: `ext:<external_id>`, else `email:<email>`."""
    if external_id:
        return f"ext:{external_id}"
    return f"email:{email}" if email else None


def contact_external_id(identity: Identity, value: Any) -> str | None:
    """prefix + the identity value, or None when the value is missing."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return identity.prefix + value


def customer_external_id(record: Mapping[str, Any], config: DestinationConfig) -> str | None:
    """The contact's external_id of a customer record (its `identity` field, prefixed)."""
    return contact_external_id(config.identity, record.get(config.identity.source_field))


# --- customers -----------------------------------------------------------------------------


def map_customer(
    record: Mapping[str, Any],
    config: DestinationConfig,
    schema: ContactSchema,
    languages_of: Mapping[str, Sequence[str]] | None = None,
) -> MappedContact:
    """A commercetools customer → contact properties, consents and list memberships.

    `languages_of`: the languages of each store (by key), for field mappings that read a
    localized value in the customer's language."""
    external_id = customer_external_id(record, config)
    issues = check_match_key(external_id, config.identity.source_field)
    address = billing_address(record)
    store_keys = customer_store_keys(record)

    raw = {
        target: extract(record, address, store_keys)
        for target, extract in DEFAULT_CUSTOMER_FIELDS.items()
    }
    shipping_names = [name for name in SHIPPING_PROPERTIES if name in schema]
    if shipping_names:
        shipping = shipping_address(record)
        raw.update({name: SHIPPING_PROPERTIES[name](shipping) for name in shipping_names})
    for mapping in config.field_mappings:
        raw[mapping.target] = mapped_source_value(
            record, mapping.source, mapping.locale, languages_of or {}, config.fallback_locale
        )
    routed = route(config, lambda path: customer_value(record, path)) if config.routes else None
    if routed is not None:  # a routed value wins over the mapping's
        raw.update({n: route_value(v, schema, n) for n, v in routed.properties.items()})

    country = address.get("country")
    default_region = country.strip().upper() if is_country(country) else None
    properties, property_issues = validate_properties(raw, schema, default_region=default_region)
    for issue in property_issues:
        issues.append(_apply_policy(issue, config, required=schema.is_required(issue.field)))

    source_updated_at = instant(record.get("lastModifiedAt"))
    consents: list[ConsentPayload] = []
    if external_id is not None:
        fallback_time = source_updated_at or instant(record.get("createdAt"))
        store = store_keys[0] if store_keys else None
        for mapping in config.consents:
            consent, consent_issues = _consent(record, mapping, external_id, fallback_time, store)
            issues.extend(_apply_policy(issue, config) for issue in consent_issues)
            if consent is not None:
                consents.append(consent)

    return MappedContact(
        source_id=record.get("id"),
        source_version=record.get("version"),
        external_id=external_id,
        email=properties.get("email"),
        properties=properties,
        source_updated_at=source_updated_at,
        consents=consents,
        list_ids=list(routed.lists) if routed else [],
        routed_properties=tuple(routed.properties) if routed else (),
        issues=shown_issues(issues, config),
    )


def shown_issues(issues: list[Issue], config: DestinationConfig) -> list[Issue]:
    """Under `redact_pii` a reason names the field and the rule, never the value."""
    return [issue.without_value() for issue in issues] if config.redact_pii else issues


def _apply_policy(issue: Issue, config: DestinationConfig, *, required: bool = False) -> Issue:
    """Under `omit_field` an invalid optional value is left out with a warning; a required
    one, the match key, or anything under `reject_record` stays an error."""
    if issue.severity == "error" and config.invalid_values == "omit_field" and not required:
        return issue.as_warning("; left out of the record")
    return issue


def _consent(
    record: Mapping[str, Any],
    mapping: ConsentMapping,
    external_id: str,
    fallback_time: str | None,
    store: str | None,
) -> tuple[ConsentPayload | None, list[Issue]]:
    flag = get_path(record, mapping.flag_field)
    if flag is None:
        return None, []  # no opt-in field: the customer said nothing; send nothing
    where = mapping.flag_field
    try:
        granted = normalize_boolean(flag)
    except Invalid as error:
        reason, rule = f"{where}: consent flag {error}", f"{where}: consent flag {error.rule}"
        return None, [Issue(where, "invalid_consent", reason, rule=rule)]
    issues: list[Issue] = []
    updated_at = None
    if mapping.timestamp_field is not None:
        stamp = get_path(record, mapping.timestamp_field)
        updated_at = instant(stamp)
        if stamp is not None and updated_at is None:
            rule = "not an RFC 3339 date-time; the consent uses the customer's lastModifiedAt"
            reason = f"{mapping.timestamp_field}: {shown(stamp)} is {rule}"
            rule = f"{mapping.timestamp_field}: {rule}"
            issues.append(Issue(mapping.timestamp_field, "invalid_value", reason, rule=rule))
    updated_at = updated_at or fallback_time
    if updated_at is None:
        reason = f"{where}: no timestamp field and no lastModifiedAt to date the consent"
        return None, [*issues, Issue(where, "invalid_consent", reason)]
    evidence = {"field": mapping.flag_field.rsplit(".", 1)[-1]}
    if store is not None:
        evidence["store"] = store
    consent = ConsentPayload(
        contact_external_id=external_id,
        channel=mapping.channel,
        purpose=mapping.purpose,
        status="granted" if granted else "withdrawn",
        updated_at=updated_at,
        evidence=evidence,
    )
    return consent, issues


# --- orders --------------------------------------------------------------------------------


def order_amount(money: Any) -> dict[str, str] | None:
    """commercetools Money → `{"amount": "59.90", "currency": "EUR"}`; None when absent."""
    if not isinstance(money, Mapping):
        return None
    return {
        "amount": money_amount(money),
        "currency": normalize_currency(money.get("currencyCode")),
    }


def order_store(record: Mapping[str, Any]) -> str | None:
    store = record.get("store")
    key = store.get("key") if isinstance(store, Mapping) else None
    return key if isinstance(key, str) and key else record.get("_ab_store_key")


def _subtotal(record: Mapping[str, Any], total: Mapping[str, str] | None) -> dict[str, str] | None:
    """Sum of the line items' totals in the order's currency; None when it cannot be summed."""
    items = [*_items(record.get("lineItems")), *_items(record.get("customLineItems"))]
    if total is None or not items:
        return None
    amounts = []
    for item in items:
        price = order_amount(item.get("totalPrice") if isinstance(item, Mapping) else None)
        if price is None or price["currency"] != total["currency"]:
            return None
        amounts.append(Decimal(price["amount"]))
    places = Decimal(total["amount"]).as_tuple().exponent
    return {
        "amount": str(sum(amounts, Decimal(0)).quantize(Decimal(1).scaleb(places))),
        "currency": total["currency"],
    }


def map_order(
    record: Mapping[str, Any],
    config: DestinationConfig,
    resolve_external_id: Callable[[str], str | None],
) -> MappedOrder:
    """`_map_order`, with reasons shown as `redact_pii` says."""
    mapped = _map_order(record, config, resolve_external_id)
    mapped.issues = shown_issues(mapped.issues, config)
    return mapped


def _map_order(
    record: Mapping[str, Any],
    config: DestinationConfig,
    resolve_external_id: Callable[[str], str | None],
) -> MappedOrder:
    """An order → `order_placed` (and `order_cancelled`) activities and/or an `orders` object.

    `occurred_at` is `createdAt` for `order_placed` and `lastModifiedAt` (the last change, the
    best time the order resource gives for a cancellation) for `order_cancelled`.
    `resolve_external_id(customer_id)` returns the contact's external_id (prefix included) when
    the identity is not the customer id; it is not called when it is.
    """
    order_id = record.get("id")
    customer_id = record.get("customerId") or None
    if customer_id is not None and not isinstance(customer_id, str):
        reason = f"customerId: {shown(customer_id)} is not a customer id"
        rule = "customerId: not a customer id"
        return MappedOrder(
            source_id=order_id,
            source_version=record.get("version"),
            customer_id=None,
            issues=[Issue("customerId", "invalid_value", reason, rule=rule)],
        )
    mapped = MappedOrder(
        source_id=order_id, source_version=record.get("version"), customer_id=customer_id
    )
    if not isinstance(order_id, str) or not order_id:
        mapped.issues.append(Issue("id", "missing_order_id", "id: the order has no id"))
        return mapped

    _attach_contact(mapped, record, config, resolve_external_id)
    if mapped.skipped or mapped.rejected:
        return mapped

    try:
        total = order_amount(record.get("totalPrice"))
    except Invalid as error:
        total = None
        reason, rule = f"totalPrice: {error}", f"totalPrice: {error.rule}"
        issue = Issue("totalPrice", "invalid_value", reason, rule=rule)
        mapped.issues.append(_apply_policy(issue, config))
        if mapped.rejected:
            return mapped
    else:
        if total is None:
            reason = "totalPrice: the order has no total; it is written without an amount"
            mapped.issues.append(Issue("totalPrice", "missing_value", reason, "warning"))

    created_at = try_normalize_rfc3339(record.get("createdAt"))
    modified_at = try_normalize_rfc3339(record.get("lastModifiedAt"))
    placed_at = created_at or modified_at
    if placed_at is None:
        reason = f"createdAt: {shown(record.get('createdAt'))} is not an RFC 3339 date-time"
        rule = "createdAt: not an RFC 3339 date-time"
        mapped.issues.append(Issue("createdAt", "invalid_value", reason, rule=rule))
        return mapped

    store = order_store(record)
    line_items = len(_items(record.get("lineItems")))
    states = {
        "order_state": record.get("orderState"),
        "payment_state": record.get("paymentState"),
        "shipment_state": record.get("shipmentState"),
    }
    if config.writes_order_activities:
        number = record.get("orderNumber") or order_id
        common = {
            "subject": f"Order {number}",
            "contact_external_id": mapped.contact_external_id,
            "contact_email": mapped.contact_email,
            "amount": total,
            "store": store,
            "properties": _without_none({**states, "line_items": line_items}),
        }
        mapped.activities.append(
            ActivityPayload(
                external_id=f"order:{order_id}:placed",
                type="order_placed",
                occurred_at=placed_at,
                **common,
            )
        )
        if record.get("orderState") == "Cancelled":
            mapped.activities.append(
                ActivityPayload(
                    external_id=f"order:{order_id}:cancelled",
                    type="order_cancelled",
                    occurred_at=modified_at or placed_at,
                    **common,
                )
            )
    if config.writes_order_objects:
        properties = {
            "order_number": record.get("orderNumber"),
            **states,
            "store": store,
            "currency": total["currency"] if total else None,
            "total": total,
            "subtotal": _subtotal(record, total),
            "line_items": line_items,
            "placed_at": placed_at,
            "completed_at": try_normalize_rfc3339(record.get("completedAt")),
            "source_created_at": created_at,
            "source_updated_at": modified_at,
        }
        mapped.object = ObjectPayload(
            external_id=f"order:{order_id}",
            contact_external_id=mapped.contact_external_id,
            contact_email=mapped.contact_email,
            properties=_without_none(properties),
        )
    return mapped


def customers_external_id(
    customer_id: str, config: DestinationConfig, resolve: Callable[[str], str | None]
) -> str | None:
    """The external_id of the customer an order or cart names: its id when that is the
    identity, else what `resolve` (the journal's identities) knows."""
    if config.identity.source_field == "id":
        return contact_external_id(config.identity, customer_id)
    return resolve(customer_id)


def _attach_contact(
    mapped: MappedOrder,
    record: Mapping[str, Any],
    config: DestinationConfig,
    resolve_external_id: Callable[[str], str | None],
) -> None:
    """Set the contact an order belongs to, or why it is skipped or rejected."""
    customer_id = mapped.customer_id
    if customer_id is not None:
        resolved = customers_external_id(customer_id, config, resolve_external_id)
        if resolved is not None:
            mapped.contact_external_id = resolved
            return
        email = _order_email(mapped, record)
        if email is not None:
            mapped.contact_email = email
            reason = (
                f"customerId: customer {customer_id!r} has no known external_id; "
                "attached by customerEmail"
            )
            mapped.issues.append(Issue("customerId", "contact_unresolved", reason, "warning"))
        elif not mapped.rejected:
            reason = f"customerId: customer {customer_id!r} has no known external_id or email"
            mapped.issues.append(Issue("customerId", "contact_unresolved", reason))
        return

    if config.guest_orders == "skip":
        mapped.skipped_reason = "guest order (no customerId) and guest_orders is skip"
        return
    email = _order_email(mapped, record)
    if email is not None:
        mapped.contact_email = email
    elif not mapped.rejected:
        mapped.skipped_reason = "guest order without customerEmail: no contact to attach it to"


def _order_email(mapped: MappedOrder, record: Mapping[str, Any]) -> str | None:
    """The order's valid customerEmail; an invalid one is an error on the order."""
    value = record.get("customerEmail")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return normalize_email(value)
    except Invalid as error:
        reason, rule = f"customerEmail: {error}", f"customerEmail: {error.rule}"
        mapped.issues.append(Issue("customerEmail", error.code, reason, rule=rule))
        return None


# --- messages ------------------------------------------------------------------------------


def map_message(record: Mapping[str, Any], config: DestinationConfig) -> Deletion | None:
    """A `CustomerDeleted` message → a `Deletion` (action from `deletions`); else None.

    A `CustomerDeleted` without a customer id comes back `rejected`, not dropped."""
    if record.get("type") != "CustomerDeleted":
        return None
    resource = record.get("resource")
    customer_id = resource.get("id") if isinstance(resource, Mapping) else None
    if not isinstance(customer_id, str) or not customer_id:
        rule = "resource.id: the CustomerDeleted message names no customer"
        issue = Issue(
            "resource.id", "missing_customer_id", f"{rule} ({shown(resource)})", rule=rule
        )
        issue = issue.without_value() if config.redact_pii else issue
        return Deletion("", None, config.deletions, message_id=record.get("id"), issues=(issue,))
    external_id = (
        contact_external_id(config.identity, customer_id)
        if config.identity.source_field == "id"
        else None
    )
    return Deletion(
        customer_id=customer_id,
        external_id=external_id,
        action=config.deletions,
        occurred_at=try_normalize_rfc3339(record.get("createdAt")),
        message_id=record.get("id"),
    )
