"""Commerce events → CRM One payloads: carts, the order lifecycle and returns, guest buyers,
payments, order history and store departures. Pure functions, like `mapping`: no I/O, every
problem returned as an `Issue`; what must be remembered across runs (open carts, orders
written, a contact's routed stores) is handed in by the caller from the journal.

- carts: `checkout_started` for a cart with line items and a known buyer; an `Active` one is
  *open* and its `cart_abandoned` is written later by the caller, once the wall clock says it
  has been idle for `abandoned_after_hours` (`abandoned_activity`); `recovered_activity`
  flags that activity when the cart becomes `Ordered`.
- orders: `order_updated` per shipment and payment state reached (the initial `Pending` is
  what `order_placed` already says), `order_returned` per `returnInfo` entry.
- guest buyers: `guest_contact` is the contact a guest order or cart creates (by email).
- payments: `map_payment` is a payment's method and state (`payment_state`, from its
  transactions); `order_payment_properties` is what the `orders` object of an order naming
  payments (`order_payment_ids`) carries of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from destination_crmone.config import DestinationConfig
from destination_crmone.crmone.validate import (
    ContactSchema,
    Invalid,
    Issue,
    is_country,
    shown,
    validate_properties,
)
from destination_crmone.customer_fields import street
from destination_crmone.journal.commerce import CartRow, OrderFact, PaymentFact
from destination_crmone.records import (
    ActivityPayload,
    MappedContact,
    MappedOrder,
    _apply_policy,
    _attach_contact,
    _items,
    _without_none,
    get_path,
    map_order,
    order_amount,
    order_store,
)
from destination_crmone.timefmt import format_rfc3339, parse_rfc3339, try_normalize_rfc3339

INITIAL_STATE = "Pending"  # commercetools' first shipment and payment state
OPEN_CART_STATE = "Active"
RECOVERED_CART_STATE = "Ordered"


# --- carts ---------------------------------------------------------------------------------


@dataclass
class MappedCart(MappedOrder):
    """A cart's `checkout_started` and, while it is open, what its `cart_abandoned` will be.

    The buyer is found as an order's is (`guest_orders`, customerEmail, identities).
    `abandoned` is the activity written once the cart has been idle long enough (the caller
    dates it: last change + threshold). `state` is `open` (Active: remember it), `recovered`
    (Ordered: flag its cart_abandoned) or `closed` (Merged, Frozen, …: never abandoned).
    """

    state: str = "closed"
    last_modified_at: str | None = None
    abandoned: ActivityPayload | None = None


def map_cart(
    record: Mapping[str, Any],
    config: DestinationConfig,
    resolve_external_id: Callable[[str], str | None],
) -> MappedCart:
    """A cart → `checkout_started` (at `createdAt`) and its open/recovered/closed state."""
    cart_id = record.get("id")
    mapped = MappedCart(
        source_id=cart_id,
        source_version=record.get("version"),
        customer_id=None,
        state=_cart_state(record.get("cartState")),
        last_modified_at=try_normalize_rfc3339(record.get("lastModifiedAt")),
    )
    customer_id = record.get("customerId") or None
    if customer_id is not None and not isinstance(customer_id, str):
        reason = f"customerId: {shown(customer_id)} is not a customer id"
        mapped.issues.append(Issue("customerId", "invalid_value", reason))
        return mapped
    mapped.customer_id = customer_id
    if not isinstance(cart_id, str) or not cart_id:
        mapped.issues.append(Issue("id", "missing_cart_id", "id: the cart has no id"))
        return mapped
    if not _items(record.get("lineItems")) and not _items(record.get("customLineItems")):
        mapped.state = "closed"
        mapped.skipped_reason = "cart without line items: no checkout to record"
        return mapped
    _attach_contact(mapped, record, config, resolve_external_id)
    if mapped.skipped_reason is not None:
        mapped.skipped_reason = mapped.skipped_reason.replace("guest order", "guest cart")
    if mapped.skipped or mapped.rejected:
        return mapped

    created_at = try_normalize_rfc3339(record.get("createdAt")) or mapped.last_modified_at
    if created_at is None:
        reason = f"createdAt: {shown(record.get('createdAt'))} is not an RFC 3339 date-time"
        mapped.issues.append(Issue("createdAt", "invalid_value", reason))
        return mapped
    try:
        total = order_amount(record.get("totalPrice"))
    except Invalid as error:
        total = None
        issue = Issue("totalPrice", "invalid_value", f"totalPrice: {error}")
        mapped.issues.append(_apply_policy(issue, config))
        if mapped.rejected:
            return mapped
    checkout = ActivityPayload(
        external_id=f"cart:{cart_id}:checkout_started",
        type="checkout_started",
        occurred_at=created_at,
        subject="Checkout started",
        contact_external_id=mapped.contact_external_id,
        contact_email=mapped.contact_email,
        amount=total,
        store=order_store(record),
        properties=_without_none(
            {
                "cart_id": cart_id,
                "cart_state": record.get("cartState"),
                "line_items": len(_items(record.get("lineItems"))),
            }
        ),
    )
    mapped.activities.append(checkout)
    mapped.abandoned = replace(
        checkout,
        external_id=f"cart:{cart_id}:abandoned",
        type="cart_abandoned",
        occurred_at=mapped.last_modified_at or created_at,
        subject="Cart abandoned",
        properties={**checkout.properties, "recovered": False},
    )
    return mapped


def _cart_state(cart_state: Any) -> str:
    if cart_state == OPEN_CART_STATE:
        return "open"
    return "recovered" if cart_state == RECOVERED_CART_STATE else "closed"


def abandoned_activity(
    remembered: Mapping[str, Any], last_modified_at: str, after_hours: float
) -> ActivityPayload:
    """The `cart_abandoned` of an open cart (as remembered, `ActivityPayload.to_api()`), at the
    moment it became abandoned: its last change + the threshold."""
    became = parse_rfc3339(last_modified_at) + timedelta(hours=after_hours)
    return _activity({**remembered, "occurred_at": format_rfc3339(became)})


def abandoned_since(now: datetime, after_hours: float) -> str:
    """Carts last changed at or before this instant are abandoned at `now`."""
    return format_rfc3339(now - timedelta(hours=after_hours))


def recovered_activity(written: Mapping[str, Any], order_id: str | None = None) -> ActivityPayload:
    """The written `cart_abandoned` again (same external_id: updated in place), flagged
    `recovered: true` and, when known, with the order that recovered it."""
    properties = {**(written.get("properties") or {}), "recovered": True}
    if order_id:
        properties["order_id"] = order_id
    return _activity({**written, "properties": properties})


def cart_transition(
    remembered: CartRow | None, mapped: MappedCart
) -> tuple[CartRow | None, ActivityPayload | None]:
    """What to remember of a cart after this version of it (None: leave the journal as is),
    and the recovery to write (its `cart_abandoned` flagged) when it became `Ordered`.

    An abandoned cart stays abandoned whatever else happens to it (written once); a cart that
    stops being Active (ordered, merged, frozen, emptied) is no longer open.
    """
    stamp = mapped.last_modified_at
    if remembered is not None and stamp is not None and stamp < remembered.last_modified_at:
        return None, None  # an older copy of the cart (a retry): the journal knows better
    written = remembered is not None and remembered.state in ("abandoned", "recovered")
    if mapped.state == "recovered" and remembered is not None and remembered.state == "abandoned":
        recovery = recovered_activity(remembered.activity)
        return replace(remembered, state="recovered", activity=recovery.to_api()), recovery
    if written or mapped.source_id is None:
        return None, None
    usable = not (mapped.rejected or mapped.skipped) and mapped.abandoned is not None
    if mapped.state == "open" and usable and stamp is not None:
        row = CartRow(
            mapped.source_id, "open", mapped.contact_key, stamp, mapped.abandoned.to_api()
        )
        return row, None
    if remembered is not None and remembered.state == "open":
        return replace(
            remembered, state="closed", last_modified_at=stamp or remembered.last_modified_at
        ), None
    return None, None


def order_recovery(
    remembered: CartRow | None, order_id: str
) -> tuple[CartRow | None, ActivityPayload | None]:
    """An order placed from a remembered cart: its written `cart_abandoned` is flagged
    recovered by this order (once); an open cart is simply no longer open."""
    if remembered is None:
        return None, None
    if remembered.state == "open":
        return replace(remembered, state="closed"), None
    if remembered.state not in ("abandoned", "recovered"):
        return None, None
    if (remembered.activity.get("properties") or {}).get("order_id") == order_id:
        return None, None
    recovery = recovered_activity(remembered.activity, order_id)
    return replace(remembered, state="recovered", activity=recovery.to_api()), recovery


def _activity(api: Mapping[str, Any]) -> ActivityPayload:
    return ActivityPayload(
        external_id=api["external_id"],
        type=api["type"],
        occurred_at=api["occurred_at"],
        subject=api.get("subject") or "",
        contact_external_id=api.get("contact_external_id"),
        contact_email=api.get("contact_email"),
        amount=api.get("amount"),
        store=api.get("store"),
        properties=dict(api.get("properties") or {}),
    )


def order_cart_id(record: Mapping[str, Any]) -> str | None:
    """The cart an order was placed from (`cart` reference), if the order names it."""
    cart_id = get_path(record, "cart.id")
    return cart_id if isinstance(cart_id, str) and cart_id else None


# --- the order lifecycle -------------------------------------------------------------------


def map_order_events(
    record: Mapping[str, Any],
    config: DestinationConfig,
    resolve_external_id: Callable[[str], str | None],
) -> MappedOrder:
    """`map_order` plus `order_updated` per shipment/payment state reached and
    `order_returned` per `returnInfo` entry (when orders are written as activities)."""
    mapped = map_order(record, config, resolve_external_id)
    placed = next((a for a in mapped.activities if a.type == "order_placed"), None)
    if placed is not None:
        mapped.activities += lifecycle_activities(record, placed)
    return mapped


def lifecycle_activities(
    record: Mapping[str, Any], placed: ActivityPayload
) -> list[ActivityPayload]:
    """`order_updated` and `order_returned` activities, built on the order's `order_placed`
    (same contact, subject, amount and store). Idempotent: one external_id per state reached
    and per return entry."""
    order_id = record["id"]
    modified_at = try_normalize_rfc3339(record.get("lastModifiedAt")) or placed.occurred_at
    activities = []
    for kind, field_name in (("shipment", "shipmentState"), ("payment", "paymentState")):
        state = record.get(field_name)
        if isinstance(state, str) and state and state != INITIAL_STATE:
            activities.append(
                replace(
                    placed,
                    external_id=f"order:{order_id}:{kind}:{state}",
                    type="order_updated",
                    occurred_at=modified_at,
                    properties={**placed.properties, "change": kind, f"{kind}_state": state},
                )
            )
    for n, entry in enumerate(_items(record.get("returnInfo")), start=1):
        entry = entry if isinstance(entry, Mapping) else {}
        returned_at = try_normalize_rfc3339(entry.get("returnDate")) or modified_at
        items = _items(entry.get("items"))
        quantity = sum(
            item.get("quantity", 0)
            for item in items
            if isinstance(item, Mapping) and isinstance(item.get("quantity"), int)
        )
        activities.append(
            replace(
                placed,
                external_id=f"order:{order_id}:returned:{n}",
                type="order_returned",
                occurred_at=returned_at,
                properties=_without_none(
                    {
                        **placed.properties,
                        "return_items": len(items),
                        "return_quantity": quantity,
                        "return_date": returned_at,
                        "return_tracking_id": entry.get("returnTrackingId"),
                    }
                ),
            )
        )
    return activities


# --- guest buyers --------------------------------------------------------------------------


def guest_contact(
    record: Mapping[str, Any], email: str, schema: ContactSchema, config: DestinationConfig
) -> MappedContact:
    """The contact a guest order or cart creates, by email (no external_id), with what the
    record knows: name, address and phone of the billing (else shipping) address, locale,
    store. No consent: a guest's consent is never inferred."""
    address = record.get("billingAddress") or record.get("shippingAddress")
    address = address if isinstance(address, Mapping) else {}
    store = order_store(record)
    raw = {
        "email": email,
        "first_name": address.get("firstName"),
        "last_name": address.get("lastName"),
        "salutation": address.get("salutation"),
        "company": address.get("company"),
        "street": street(address),
        "postal_code": address.get("postalCode"),
        "city": address.get("city"),
        "region": address.get("region") or address.get("state"),
        "country": address.get("country") or record.get("country"),
        "phone": address.get("phone"),
        "mobile_phone": address.get("mobile"),
        "locale": record.get("locale"),
        "store": store,
        "stores": [store] if store else None,
    }
    raw = {name: value for name, value in raw.items() if name in schema.properties}
    country = raw.get("country")
    default_region = country.strip().upper() if is_country(country) else None
    properties, issues = validate_properties(
        _without_none(raw), schema, default_region=default_region
    )
    # The contact is a by-product of the order: a bad optional value never blocks it.
    issues = [i if i.field == "email" else i.as_warning("; left out") for i in issues]
    return MappedContact(
        source_id=record.get("id"),
        source_version=record.get("version"),
        external_id=None,
        email=properties.get("email"),
        properties=properties,
        source_updated_at=try_normalize_rfc3339(record.get("lastModifiedAt")),
        issues=issues,
    )


def guest_email(record: Mapping[str, Any], mapped: MappedOrder | MappedCart) -> str | None:
    """The email a guest record's contact is created by: only for records without a customer
    that were attached by email."""
    if mapped.customer_id is not None or mapped.contact_external_id is not None:
        return None
    return mapped.contact_email


# --- order history -------------------------------------------------------------------------


def order_history_properties(orders: Sequence[OrderFact]) -> dict[str, Any]:
    """`order_count`, `last_order_at` and `total_spent` of a contact's written orders.

    Cancelled orders are not counted. `total_spent` is in the currency of the first order
    (the earliest `placed_at` with a currency); orders in other currencies are left out of it.
    """
    kept = sorted((o for o in orders if not o.cancelled), key=lambda o: (o.placed_at, o.order_id))
    if not kept:
        return {}
    properties: dict[str, Any] = {
        "order_count": len(kept),
        "last_order_at": kept[-1].placed_at,
    }
    currency = next((o.currency for o in kept if o.currency), None)
    if currency is not None:
        total, places = Decimal(0), 0
        for order in kept:
            if order.currency != currency or order.amount is None:
                continue
            try:
                amount = Decimal(order.amount)
            except InvalidOperation:
                continue
            total += amount
            places = max(places, -int(amount.as_tuple().exponent))
        properties["total_spent"] = {
            "amount": str(total.quantize(Decimal(1).scaleb(-places))),
            "currency": currency,
        }
    return properties


def order_fact(mapped: MappedOrder, record: Mapping[str, Any]) -> OrderFact | None:
    """The journal's fact of a written order (None when it cannot be dated)."""
    placed_at = try_normalize_rfc3339(record.get("createdAt")) or try_normalize_rfc3339(
        record.get("lastModifiedAt")
    )
    if mapped.source_id is None or placed_at is None:
        return None
    try:
        total = order_amount(record.get("totalPrice"))
    except Invalid:
        total = None
    return OrderFact(
        order_id=mapped.source_id,
        placed_at=placed_at,
        amount=total["amount"] if total else None,
        currency=total["currency"] if total else None,
        cancelled=record.get("orderState") == "Cancelled",
    )


# --- payments -----------------------------------------------------------------------------

# A payment's states, from the most to the least advanced: an order with several payments
# shows the most advanced one (a failed attempt followed by a successful one is Paid).
PAYMENT_STATES = (
    "Paid",
    "PartiallyRefunded",
    "Refunded",
    "Authorized",
    "Pending",
    "Failed",
    "Cancelled",
)
PAYMENT_METHOD_PROPERTY = "payment_method"
PAYMENT_METHOD_NOTICE = (
    "the CRM One 'orders' object type has no 'payment_method' property: order objects get "
    "the payment state only. Add a 'payment_method' property (type string) to the orders "
    "object type in CRM One to get the payment method too."
)
RETURNED = ("Refund", "Chargeback")


def payment_state(transactions: Any) -> str:
    """A payment's state from its `transactions` (only successful ones move money):

    - something charged: `Refunded` when refunds and chargebacks reach the amount charged,
      `PartiallyRefunded` when they are less, else `Paid`;
    - else authorised and not cancelled: `Authorized`;
    - else a transaction still `Initial` or `Pending`: `Pending`;
    - else an authorisation cancelled: `Cancelled`; only failures: `Failed`;
    - no transaction at all: `Pending` (nothing happened yet).

    Amounts are compared in cents when every transaction counted states one; a refund whose
    amount is unreadable counts as a full one.
    """
    successful: dict[str, list[int | None]] = {}
    waiting = failed = False
    for transaction in _items(transactions):
        if not isinstance(transaction, Mapping):
            continue
        state, kind = transaction.get("state"), transaction.get("type")
        if state == "Success" and isinstance(kind, str):
            successful.setdefault(kind, []).append(_cents(transaction.get("amount")))
        elif state in ("Initial", "Pending"):
            waiting = True
        elif state == "Failure":
            failed = True
    charged = successful.get("Charge", [])
    returned = [c for kind in RETURNED for c in successful.get(kind, [])]
    if charged:
        if not returned:
            return "Paid"
        if None in charged or None in returned:
            return "Refunded"
        return "Refunded" if sum(returned) >= sum(charged) else "PartiallyRefunded"  # type: ignore[arg-type]
    authorized = successful.get("Authorization", [])
    cancelled = successful.get("CancelAuthorization", [])
    if len(authorized) > len(cancelled):
        return "Authorized"
    if waiting:
        return "Pending"
    if cancelled:
        return "Cancelled"
    return "Failed" if failed else "Pending"


def _cents(money: Any) -> int | None:
    cents = money.get("centAmount") if isinstance(money, Mapping) else None
    return cents if isinstance(cents, int) and not isinstance(cents, bool) else None


def payment_method(record: Mapping[str, Any]) -> str | None:
    """`paymentMethodInfo.method`, else its localized `name` (English, else the first)."""
    info = record.get("paymentMethodInfo")
    info = info if isinstance(info, Mapping) else {}
    method = info.get("method")
    if isinstance(method, str) and method.strip():
        return method.strip()
    name = info.get("name")
    if isinstance(name, Mapping):
        texts = [v for _, v in sorted(name.items(), key=lambda kv: kv[0] != "en") if v]
        first = next((t for t in texts if isinstance(t, str) and t.strip()), None)
        return first.strip() if first else None
    return None


def map_payment(record: Mapping[str, Any], version: str | None) -> PaymentFact | Issue:
    """A payment → its fact (method and state), or why it cannot be used."""
    payment_id = record.get("id")
    if not isinstance(payment_id, str) or not payment_id:
        return Issue("id", "missing_payment_id", "id: the payment has no id")
    return PaymentFact(
        payment_id, payment_state(record.get("transactions")), payment_method(record), version
    )


def order_payment_ids(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The payments an order names in `paymentInfo.payments` (references by id)."""
    ids = []
    for reference in _items(get_path(record, "paymentInfo.payments")):
        if not isinstance(reference, Mapping):
            continue
        if reference.get("typeId") not in (None, "payment"):
            continue
        payment_id = reference.get("id")
        if isinstance(payment_id, str) and payment_id:
            ids.append(payment_id)
    return tuple(dict.fromkeys(ids))


def order_payment_properties(facts: Iterable[PaymentFact], with_method: bool) -> dict[str, Any]:
    """What an order object carries of its known payments: `payment_state`, the most
    advanced of theirs (`PAYMENT_STATES`), and (`with_method`) `payment_method`, the methods
    of the payments in that state, distinct and sorted, joined by ", ". Empty when no payment
    of the order is known."""
    facts = list(facts)
    if not facts:
        return {}
    rank = {state: n for n, state in enumerate(PAYMENT_STATES)}
    state = min((f.state for f in facts), key=lambda s: rank.get(s, len(rank)))
    properties: dict[str, Any] = {"payment_state": state}
    if with_method:
        methods = sorted({f.method for f in facts if f.state == state and f.method})
        if methods:
            properties[PAYMENT_METHOD_PROPERTY] = ", ".join(methods)
    return properties


def payment_update(
    order_id: str, contact_key: str | None, properties: Mapping[str, Any]
) -> dict[str, Any]:
    """The `orders` object upsert that sets only these payment properties of an order
    (`order:{id}`, associated with its contact as when the order was written)."""
    record: dict[str, Any] = {"external_id": f"order:{order_id}"}
    if contact_key is not None and contact_key.startswith("ext:"):
        record["contact_external_id"] = contact_key.removeprefix("ext:")
    elif contact_key is not None and contact_key.startswith("email:"):
        record["contact_email"] = contact_key.removeprefix("email:")
    record["properties"] = dict(properties)
    return record
