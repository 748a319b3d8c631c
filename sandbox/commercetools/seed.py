"""Deterministic seeding of a realistic project: stores, groups, a consent Type, customers,
orders (guests among them), carts, payments, products, discount codes.

Seed times lie in 2025. A share of customers and of orders sits in crowded milliseconds
(bulk imports of a few hundred records each, all with one `lastModifiedAt`), which is what
breaks a reader that pages on the timestamp alone.
"""

from __future__ import annotations

import gc
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.commercetools import locales
from sandbox.commercetools.store import Record, Store

SEED_START = datetime(2025, 1, 1, tzinfo=UTC)
SEED_SPAN_MS = 300 * 24 * 3600 * 1000
SEED_DAYS = [(SEED_START + timedelta(days=d)).date().isoformat() for d in range(400)]
CROWD_SIZES = (100, 400)  # records per crowded millisecond
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
PLATFORM_CLIENT = {"isPlatformClient": True}
LANGUAGES = {
    "en": ("English", "Englisch"),
    "de": ("German", "Deutsch"),
    "fr": ("French", "Französisch"),
}
SEGMENTS = ("retail", "wholesale", "staff")
INTERESTS = {
    "sports": ("Sports", "Sport"),
    "books": ("Books", "Bücher"),
    "travel": ("Travel", "Reisen"),
}


def _localized_enum(values: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": "LocalizedEnum",
        "values": [{"key": k, "label": {"en": en, "de": de}} for k, (en, de) in values.items()],
    }


# Every kind of custom field value the API has (CustomFieldValue), on the seeded Types.
CONSENT_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("newsletterOptIn", {"name": "Boolean"}),
    ("newsletterOptInAt", {"name": "DateTime"}),
    ("smsOptIn", {"name": "Boolean"}),
    ("smsOptInAt", {"name": "DateTime"}),
    ("loyaltyTier", {"name": "String"}),
    ("preferredLanguage", _localized_enum(LANGUAGES)),
    ("segment", {"name": "Enum", "values": [{"key": k, "label": k.title()} for k in SEGMENTS]}),
    ("interests", {"name": "Set", "elementType": _localized_enum(INTERESTS)}),
    ("lifetimeValue", {"name": "Money"}),
    ("referredBy", {"name": "Reference", "referenceTypeId": "customer-group"}),
    ("orderCount", {"name": "Number"}),
    ("memberSince", {"name": "Date"}),
    ("callBackAt", {"name": "Time"}),
    ("nickname", {"name": "LocalizedString"}),
]
ORDER_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("giftWrap", {"name": "Boolean"}),
    ("salesChannel", {"name": "String"}),
]


@dataclass(frozen=True)
class SeedSpec:
    customers: int = 2000
    orders: int = 6000
    guest_order_share: float = 0.1
    stores: tuple[str, ...] = ("eu-web", "us-web")
    shared_timestamp_share: float = 0.3
    bad_customers: int = 0
    seed: int = 42
    messages_enabled: bool = True


class SeedRandom(random.Random):
    """random.Random with float-based draws: plenty for test data and several times faster
    than the bias-free integer draws, which seeding 100,000 customers would wait on."""

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:  # type: ignore[override]
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):  # type: ignore[no-untyped-def, override]
        return seq[int(self.random() * len(seq))]


def ref(type_id: str, **values: str) -> dict[str, str]:
    return {"typeId": type_id, **values}


class Seeder:
    """Builds every collection from one random generator, so a seed gives one project."""

    def __init__(self, store: Store, spec: SeedSpec) -> None:
        self.store, self.spec = store, spec
        self.rng = SeedRandom(spec.seed)
        self.latest_ms = 0

    # --- small helpers -------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def at(self, offset_ms: int) -> str:
        """The seed time `offset_ms` after SEED_START, formatted without datetime objects."""
        self.latest_ms = max(self.latest_ms, offset_ms)
        day, rest = divmod(offset_ms, 86_400_000)
        hour, rest = divmod(rest, 3_600_000)
        minute, rest = divmod(rest, 60_000)
        second, milli = divmod(rest, 1000)
        return f"{SEED_DAYS[day]}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"

    def timeline(self, count: int, not_before: list[int] | None = None) -> list[tuple[int, int]]:
        """(createdAt, lastModifiedAt) offsets in ms; a share shares crowded milliseconds."""
        rng, spans = self.rng, []
        for i in range(count):
            low = not_before[i] if not_before else 0
            created = rng.randrange(low, SEED_SPAN_MS)
            modified = created if rng.random() < 0.4 else rng.randrange(created, SEED_SPAN_MS)
            spans.append((created, modified))
        shared = rng.sample(range(count), round(count * self.spec.shared_timestamp_share))
        while shared:
            size = min(len(shared), rng.randint(*CROWD_SIZES))
            crowd, shared = shared[:size], shared[size:]
            moment = rng.randrange(int(SEED_SPAN_MS * 0.7), SEED_SPAN_MS)
            for i in crowd:
                created = spans[i][0]
                if created > moment:  # created by that same bulk import
                    created = moment
                spans[i] = (created, moment)
        return spans

    def stamps(self, span: tuple[int, int]) -> dict[str, Any]:
        created, modified = self.at(span[0]), self.at(span[1])
        return {
            "createdAt": created,
            "createdBy": PLATFORM_CLIENT,
            "lastModifiedAt": modified,
            "lastModifiedBy": PLATFORM_CLIENT,
        }

    # --- the project ---------------------------------------------------------------

    def run(self) -> None:
        store = self.store
        types = self.types()
        store["types"].load(types)
        store["stores"].load(self.stores())
        groups = self.customer_groups()
        store["customer-groups"].load(groups)
        products = self.products()
        store["products"].load(products)
        store["discount-codes"].load(self.discount_codes())
        customers = list(self.customers(types[0]["id"], groups))
        customers += [self.bad_customer(i) for i in range(self.spec.bad_customers)]
        store["customers"].load(customers)
        orders = list(self.orders(customers, products))
        carts = self.carts(orders)  # links each ordered cart to its order (`cart`)
        payments = self.payments(orders)  # … and each payment (`paymentInfo`)
        store["orders"].load(orders)
        store["carts"].load(carts)
        store["payments"].load(payments)
        store.clock.advance_to(SEED_START + timedelta(milliseconds=self.latest_ms))

    def types(self) -> list[Record]:
        def definitions(fields: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
            return [
                {
                    "name": name,
                    "label": {"en": name},
                    "required": False,
                    "type": kind,
                    "inputHint": "SingleLine",
                }
                for name, kind in fields
            ]

        return [
            {
                "id": self.new_id(),
                "version": 1,
                "key": key,
                "name": {"en": name},
                "resourceTypeIds": [resource],
                "fieldDefinitions": definitions(fields),
                **self.stamps((offset, offset)),
            }
            for offset, (key, name, resource, fields) in enumerate(
                [
                    ("customer-consent", "Customer consent", "customer", CONSENT_FIELDS),
                    ("order-extras", "Order extras", "order", ORDER_FIELDS),
                ]
            )
        ]

    def stores(self) -> list[Record]:
        return [
            {
                "id": self.new_id(),
                "version": 1,
                "key": key,
                "name": {"en": key.replace("-", " ").title()},
                "languages": [locales.COUNTRIES[c].locale for c in dict.fromkeys(countries)],
                "countries": [{"code": c} for c in dict.fromkeys(countries)],
                "distributionChannels": [],
                "supplyChannels": [],
                "productSelections": [],
                **self.stamps((10 + n, 10 + n)),
            }
            for n, key in enumerate(self.spec.stores)
            for countries in [locales.STORE_COUNTRIES.get(key, ("DE",))]
        ]

    def customer_groups(self) -> list[Record]:
        return [
            {
                "id": self.new_id(),
                "version": 1,
                "key": key,
                "name": name,
                **self.stamps((20 + n, 20 + n)),
            }
            for n, (key, name) in enumerate(
                [("retail", "Retail"), ("vip", "VIP"), ("b2b", "Business customers")]
            )
        ]

    def products(self) -> list[Record]:
        product_type = ref("product-type", id=self.new_id())
        out = []
        for n, span in enumerate(self.timeline(40)):
            sku = f"SKU-{1000 + n}"
            name = {"en": f"Product {n}", "de": f"Produkt {n}"}
            cents = self.rng.randrange(500, 20000)
            variant = {
                "id": 1,
                "sku": sku,
                "prices": [
                    {
                        "id": self.new_id(),
                        "value": _money("EUR", cents),
                    }
                ],
                "attributes": [],
                "images": [],
            }
            data = {
                "name": name,
                "slug": {"en": f"product-{n}"},
                "masterVariant": variant,
                "variants": [],
                "categories": [],
            }
            out.append(
                {
                    "id": self.new_id(),
                    "version": 1 + n % 3,
                    "key": f"product-{n}",
                    "productType": product_type,
                    "masterData": {
                        "published": True,
                        "hasStagedChanges": False,
                        "current": data,
                        "staged": data,
                    },
                    **self.stamps(span),
                }
            )
        return out

    def discount_codes(self) -> list[Record]:
        cart_discount = ref("cart-discount", id=self.new_id())
        return [
            {
                "id": self.new_id(),
                "version": 1,
                "code": f"SAVE{5 * (n + 1)}",
                "name": {"en": f"Save {5 * (n + 1)} %"},
                "cartDiscounts": [cart_discount],
                "isActive": n % 4 != 3,
                "references": [],
                "groups": [],
                **self.stamps(span),
            }
            for n, span in enumerate(self.timeline(12))
        ]

    # --- customers -----------------------------------------------------------------

    def customers(self, consent_type: str, groups: list[Record]) -> Iterator[Record]:
        rng, stores = self.rng, self.spec.stores
        type_ref = ref("type", id=consent_type)
        group_refs = [ref("customer-group", id=g["id"]) for g in groups]
        store_refs = {key: ref("store", key=key) for key in stores}
        for i, span in enumerate(self.timeline(self.spec.customers)):
            roll = rng.random()
            if roll < 0.1 or not stores:
                keys: list[str] = []  # a global customer
            elif roll < 0.15 and len(stores) > 1:
                keys = rng.sample(stores, 2)
            else:
                keys = [rng.choice(stores)]
            country = locales.country_for_store(keys[0] if keys else None, rng)
            first, last = rng.choice(locales.FIRST_NAMES), rng.choice(locales.LAST_NAMES)
            email = f"{locales.email_local(first, last)}{i}@{rng.choice(locales.EMAIL_DOMAINS)}"
            if rng.random() < 0.03:  # people type their address as they like
                email = email.title()
            stamps = self.stamps(span)
            modified = span[1] != span[0]
            version = 1 + (rng.randrange(1, 8) if modified else 0)
            address = self.address(country, first, last, email)
            customer: Record = {
                "id": self.new_id(),
                "version": version,
                "versionModifiedAt": stamps["lastModifiedAt"],
                "lastMessageSequenceNumber": version,
                "customerNumber": f"C{100000 + i}",
                "key": f"customer-{i}",
                "email": email,
                "password": f"$2a$10$sandbox.{i:010d}.not.a.real.bcrypt.hash",
                "firstName": first,
                "lastName": last,
                "salutation": rng.choice(("Mr", "Ms", "Mx")) if rng.random() < 0.5 else None,
                "title": "Dr." if rng.random() < 0.05 else None,
                "dateOfBirth": f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}"
                f"-{rng.randrange(1, 29):02d}"
                if rng.random() < 0.7
                else None,
                "companyName": f"{last} GmbH" if rng.random() < 0.08 else None,
                "vatId": f"{country.code}{rng.randrange(10**8, 10**9)}"
                if rng.random() < 0.04
                else None,
                "addresses": [address],
                "defaultBillingAddressId": address["id"],
                "defaultShippingAddressId": address["id"] if rng.random() < 0.8 else None,
                "billingAddressIds": [address["id"]],
                "shippingAddressIds": [address["id"]],
                "isEmailVerified": rng.random() < 0.85,
                "customerGroup": rng.choice(group_refs) if rng.random() < 0.25 else None,
                "locale": country.locale,
                "stores": [store_refs[k] for k in keys],
                "authenticationMode": "Password",
                "custom": self.consent(type_ref, stamps) if rng.random() < 0.9 else None,
                **stamps,
            }
            if customer["custom"]:
                customer["custom"]["fields"].update(self.profile_fields(i, groups))
            yield _drop_none(customer)

    def address(self, country: locales.Country, first: str, last: str, email: str) -> Record:
        rng = self.rng
        city, postal, region = locales.postal_code(country, rng)
        return _drop_none(
            {
                "id": f"{rng.getrandbits(32):08x}",
                "firstName": first,
                "lastName": last,
                "streetName": rng.choice(country.streets),
                "streetNumber": str(rng.randrange(1, 200)),
                "postalCode": postal,
                "city": city,
                "region": region,
                "country": country.code,
                "phone": locales.digits(rng.choice(country.phones), rng)
                if rng.random() < 0.7
                else None,
                "mobile": locales.digits(rng.choice(country.mobiles), rng)
                if rng.random() < 0.5
                else None,
                "email": email,
            }
        )

    def profile_fields(self, index: int, groups: list[Record]) -> dict[str, Any]:
        """LocalizedEnum, Enum, Set, Money, Reference, Number, Date, Time, LocalizedString
        values, as the API returns them (CustomFieldValue), from their own generator so the
        rest of the seed does not depend on them."""
        rng = random.Random(self.spec.seed * 1_000_003 + index)
        fields: dict[str, Any] = {}
        if rng.random() < 0.6:
            fields["preferredLanguage"] = rng.choice(sorted(LANGUAGES))  # the key only
            fields["segment"] = rng.choice(SEGMENTS)
            fields["interests"] = sorted(rng.sample(sorted(INTERESTS), rng.randint(0, 2)))
            fields["lifetimeValue"] = _money("EUR", rng.randrange(0, 500_000))
            fields["orderCount"] = rng.randint(0, 40)
            fields["memberSince"] = SEED_DAYS[rng.randrange(0, 300)]
            fields["callBackAt"] = f"{rng.randrange(8, 18):02d}:{rng.choice((0, 30)):02d}:00.000"
            fields["nickname"] = {"en": f"Member {index}"}
            if groups and rng.random() < 0.5:
                fields["referredBy"] = ref("customer-group", id=rng.choice(groups)["id"])
        return fields

    def consent(self, type_ref: dict[str, str], stamps: dict[str, Any]) -> Record:
        rng, fields = self.rng, {}
        if rng.random() < 0.8:
            fields["newsletterOptIn"] = rng.random() < 0.6
            fields["newsletterOptInAt"] = stamps["lastModifiedAt"]
        if rng.random() < 0.4:
            fields["smsOptIn"] = rng.random() < 0.5
            fields["smsOptInAt"] = stamps["createdAt"]
        if rng.random() < 0.7:
            fields["loyaltyTier"] = rng.choice(LOYALTY_TIERS)
        return {"type": type_ref, "fields": fields}

    def bad_customer(self, i: int) -> Record:
        """What a CRM must refuse or repair: a bad email, phone, country; no email at all."""
        kind = i % 4
        stamps = self.stamps(self.timeline(1)[0])
        customer = {
            "id": self.new_id(),
            "version": 1,
            "versionModifiedAt": stamps["lastModifiedAt"],
            "lastMessageSequenceNumber": 1,
            "customerNumber": f"B{i}",
            "key": f"bad-{i}",
            "email": ("not-an-email", f"bad{i}@example.com", f"bad{i}@example.com")[kind]
            if kind < 3
            else None,
            "firstName": "Bad" if kind < 3 else None,
            "lastName": f"Record{i}" if kind < 3 else None,
            "addresses": [
                {
                    "id": f"bad{i}",
                    "country": ("DE", "DE", "XX", "DE")[kind],
                    "phone": ("+49 151 0000", "12", "+49 151 23456789", "")[kind],
                }
            ],
            "stores": [],
            "authenticationMode": "Password",
            **stamps,
        }
        return _drop_none(customer)

    # --- orders and what hangs off them --------------------------------------------

    def orders(self, customers: list[Record], products: list[Record]) -> Iterator[Record]:
        rng, spec = self.rng, self.spec
        buyers = [rng.choice(customers) for _ in range(spec.orders)]
        created_floor = [
            int((datetime.fromisoformat(b["createdAt"]) - SEED_START) / timedelta(milliseconds=1))
            for b in buyers
        ]
        for i, span in enumerate(self.timeline(spec.orders, created_floor)):
            buyer = buyers[i]
            guest = rng.random() < spec.guest_order_share
            store_keys = [s["key"] for s in buyer.get("stores", [])]
            if store_keys:
                store_key: str | None = store_keys[0]
            elif spec.stores and rng.random() < 0.9:
                store_key = rng.choice(spec.stores)
            else:
                store_key = None  # orders need not belong to a store
            address = dict(buyer["addresses"][0]) if buyer.get("addresses") else None
            country = (address or {}).get("country", "DE")
            currency = locales.currency_for(store_key, country)
            lines = [
                self.line_item(rng.choice(products), currency) for _ in range(rng.randint(1, 4))
            ]
            total = sum(line["totalPrice"]["centAmount"] for line in lines)
            state = rng.choice(("Open", "Open", "Confirmed", "Complete", "Complete", "Cancelled"))
            stamps = self.stamps(span)
            order: Record = {
                "id": self.new_id(),
                "version": 1 if span[0] == span[1] else rng.randrange(2, 9),
                "versionModifiedAt": stamps["lastModifiedAt"],
                "lastMessageSequenceNumber": 1,
                "orderNumber": f"{100000 + i}",
                "customerId": None if guest else buyer["id"],
                "anonymousId": self.new_id() if guest else None,
                # half of the guests check out with an address that also has an account
                "customerEmail": buyer.get("email")
                if not guest or i % 2
                else f"guest{i}@example.com",
                "store": ref("store", key=store_key) if store_key else None,
                "locale": buyer.get("locale"),
                "country": country,
                "totalPrice": _money(currency, total),
                "taxedPrice": {
                    "totalNet": _money(currency, round(total / 1.19)),
                    "totalGross": _money(currency, total),
                    "taxPortions": [],
                },
                "orderState": state,
                "paymentState": "Paid" if state in ("Complete", "Confirmed") else "Pending",
                "shipmentState": _shipment_state(state, i),
                "lineItems": lines,
                "customLineItems": [],
                "shippingAddress": address,
                "billingAddress": address,
                "shippingMode": "Single",
                "taxMode": "Platform",
                "inventoryMode": "None",
                "taxRoundingMode": "HalfEven",
                "origin": "Customer",
                "syncInfo": [],
                "returnInfo": _returns(state, lines, stamps["lastModifiedAt"], i),
                "refusedGifts": [],
                "completedAt": stamps["lastModifiedAt"] if state == "Complete" else None,
                **stamps,
            }
            yield _drop_none(order)

    def line_item(self, product: Record, currency: str) -> Record:
        variant = product["masterData"]["current"]["masterVariant"]
        quantity = self.rng.randint(1, 3)
        cents = variant["prices"][0]["value"]["centAmount"]
        return {
            "id": self.new_id(),
            "productId": product["id"],
            "productKey": product["key"],
            "name": product["masterData"]["current"]["name"],
            "variant": {"id": 1, "sku": variant["sku"]},
            "price": {"id": variant["prices"][0]["id"], "value": _money(currency, cents)},
            "quantity": quantity,
            "totalPrice": _money(currency, cents * quantity),
            "lineItemMode": "Standard",
            "priceMode": "Platform",
            "state": [],
        }

    def carts(self, orders: list[Record]) -> list[Record]:
        """A cart per tenth order: Active or Ordered (then the order names it), and among
        those a share Merged (into a customer's cart at login) or Frozen (checkout)."""
        carts = []
        for n, order in enumerate(orders[::10]):
            active = self.rng.random() < 0.5
            state = "Active" if active else "Ordered"
            if active and n % 7 == 3:
                state = "Merged"
            elif active and n % 7 == 5:
                state = "Frozen"
            stamps = {k: order[k] for k in ("createdAt", "lastModifiedAt")}
            cart = {
                "id": self.new_id(),
                "version": order["version"],
                "cartState": state,
                "customerId": order.get("customerId"),
                "anonymousId": order.get("anonymousId"),
                "customerEmail": order.get("customerEmail"),
                "store": order.get("store"),
                "country": order.get("country"),
                "lineItems": order["lineItems"],
                "customLineItems": [],
                "totalPrice": order["totalPrice"],
                "shippingMode": "Single",
                "taxMode": "Platform",
                "inventoryMode": "None",
                "origin": "Customer",
                **stamps,
            }
            if state == "Ordered":
                order["cart"] = ref("cart", id=cart["id"])
            carts.append(_drop_none(cart))
        return carts

    def payments(self, orders: list[Record]) -> list[Record]:
        payments = []
        for order in orders[::3]:
            payment = {
                "id": self.new_id(),
                "version": 1,
                "key": f"payment-{order['orderNumber']}",
                "customer": ref("customer", id=order["customerId"])
                if "customerId" in order
                else None,
                "anonymousId": order.get("anonymousId"),
                "amountPlanned": order["totalPrice"],
                "paymentMethodInfo": {
                    "paymentInterface": "psp-sandbox",
                    "method": self.rng.choice(("CREDIT_CARD", "PAYPAL", "INVOICE")),
                },
                "paymentStatus": {},
                "transactions": [
                    {
                        "id": self.new_id(),
                        "timestamp": order["createdAt"],
                        "type": "Charge",
                        "amount": order["totalPrice"],
                        "state": "Success" if order["paymentState"] == "Paid" else "Pending",
                    }
                ],
                "interfaceInteractions": [],
                "createdAt": order["createdAt"],
                "lastModifiedAt": order["createdAt"],
            }
            order["paymentInfo"] = {"payments": [ref("payment", id=payment["id"])]}
            payments.append(_drop_none(payment))
        return payments


def _shipment_state(order_state: str, i: int) -> str:
    """Delivered when complete; a confirmed order is shipped, partly shipped or delayed."""
    if order_state == "Complete":
        return "Delivered"
    if order_state == "Confirmed":
        return ("Shipped", "Partial", "Delayed", "Ready")[i % 4]
    return "Pending"


def _returns(order_state: str, lines: list[Record], at: str, i: int) -> list[Record]:
    """Every ninth completed order has a return of its first line item (two, now and then)."""
    if order_state != "Complete" or i % 9:
        return []
    entry = {
        "items": [
            {
                "id": f"return-{i}",
                "quantity": 1,
                "type": "LineItemReturnItem",
                "lineItemId": lines[0]["id"],
                "shipmentState": "Returned",
                "paymentState": "Refunded",
                "createdAt": at,
                "lastModifiedAt": at,
            }
        ],
        "returnDate": at,
    }
    return [entry, {**entry, "returnTrackingId": f"RT-{i}"}] if i % 2 else [entry]


def _money(currency: str, cents: int) -> dict[str, Any]:
    return {
        "type": "centPrecision",
        "currencyCode": currency,
        "centAmount": cents,
        "fractionDigits": 2,
    }


def _drop_none(record: Record) -> Record:
    """The API leaves out fields without a value rather than sending null."""
    return {k: v for k, v in record.items() if v is not None}


def seed(store: Store, spec: SeedSpec) -> None:
    """Fill `store`. The cyclic garbage collector pauses meanwhile (the records hold no
    cycles, and it would otherwise rescan them thousands of times), and the seeded objects
    are frozen out of its later passes, which keeps request latency flat."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        Seeder(store, spec).run()
    finally:
        if enabled:
            gc.enable()
        gc.freeze()
