"""The sandbox project's data: deterministic seeding, an ordered store, mutations."""

from __future__ import annotations

import bisect
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

COLLECTIONS = (
    "customers",
    "orders",
    "carts",
    "payments",
    "products",
    "discount-codes",
    "stores",
    "customer-groups",
    "types",
    "messages",
)
STORE_FILTERED = {"customers", "orders", "carts"}
SEED_START = datetime(2025, 1, 1, tzinfo=UTC)
COUNTRIES = {
    "eu-web": [("DE", "+49", "0151 2345{:04d}"), ("FR", "+33", "06 12 34 {:02d} {:02d}")],
    "us-web": [("US", "+1", "(212) 736-{:04d}")],
}
FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Eva", "Femi", "Greta", "Hiro", "Ines", "Jonas"]
LAST = ["Müller", "Smith", "Dubois", "Rossi", "Nowak", "García", "Okafor", "Tanaka"]


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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


@dataclass
class Collection:
    """Records by id plus an index ordered by (timestamp field, id) for key-set reads."""

    order_field: str
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    _index: list[tuple[str, str]] = field(default_factory=list)
    _dirty: bool = False

    def put(self, record: dict[str, Any]) -> None:
        self.by_id[record["id"]] = record
        self._dirty = True

    def remove(self, record_id: str) -> dict[str, Any] | None:
        self._dirty = True
        return self.by_id.pop(record_id, None)

    def ordered(self) -> list[tuple[str, str]]:
        if self._dirty:
            self._index = sorted((r[self.order_field], r["id"]) for r in self.by_id.values())
            self._dirty = False
        return self._index

    def after(self, cursor: str, record_id: str) -> Iterable[dict[str, Any]]:
        """Records strictly after (cursor, id) in (order_field, id) order."""
        index = self.ordered()
        start = bisect.bisect_right(index, (cursor, record_id))
        for _, rid in index[start:]:
            yield self.by_id[rid]


class Project:
    """All collections of one project, guarded by one lock."""

    def __init__(self, key: str, spec: SeedSpec) -> None:
        self.key = key
        self.spec = spec
        self.lock = threading.RLock()
        self.rng = random.Random(spec.seed)
        self.collections = {
            name: Collection("createdAt" if name == "messages" else "lastModifiedAt")
            for name in COLLECTIONS
        }
        self.messages_enabled = spec.messages_enabled
        self._clock = SEED_START
        self._sequence: dict[str, int] = {}
        seed_project(self)

    # --- time and ids --------------------------------------------------------------

    def tick(self, ms: int = 1) -> str:
        self._clock += timedelta(milliseconds=ms)
        return fmt(self._clock)

    def now(self) -> str:
        """A fresh timestamp for a mutation: real time, but never before the seed clock."""
        real = datetime.now(UTC)
        self._clock = max(self._clock + timedelta(milliseconds=1), real)
        return fmt(self._clock)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # --- writes --------------------------------------------------------------------

    def put(self, collection: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.collections[collection].put(record)

    def touch(
        self, collection: str, record: dict[str, Any], change: Callable[[dict], None]
    ) -> None:
        with self.lock:
            change(record)
            record["version"] = record.get("version", 1) + 1
            record["lastModifiedAt"] = self.now()
            self.collections[collection].put(record)

    def message(
        self, resource_type: str, resource: dict[str, Any], kind: str, **extra: Any
    ) -> None:
        if not self.messages_enabled:
            return
        with self.lock:
            rid = resource["id"]
            self._sequence[rid] = self._sequence.get(rid, 0) + 1
            moment = self.now()
            self.put(
                "messages",
                {
                    "id": self.new_id(),
                    "version": 1,
                    "sequenceNumber": self._sequence[rid],
                    "resource": {"typeId": resource_type, "id": rid},
                    "resourceVersion": resource.get("version", 1),
                    "type": kind,
                    "createdAt": moment,
                    "lastModifiedAt": moment,
                    **extra,
                },
            )

    def pick(self, collection: str, n: int, where: Callable[[dict], bool] = lambda r: True):
        with self.lock:
            candidates = sorted(
                r["id"] for r in self.collections[collection].by_id.values() if where(r)
            )
            return [
                self.collections[collection].by_id[i]
                for i in self.rng.sample(candidates, min(n, len(candidates)))
            ]

    def update_customers(self, n: int) -> list[str]:
        ids = []
        for customer in self.pick("customers", n):

            def change(record: dict) -> None:
                record["firstName"] = record.get("firstName", "") + "*"
                fields = record.setdefault("custom", {}).setdefault("fields", {})
                fields["newsletterOptIn"] = not fields.get("newsletterOptIn", False)
                fields["newsletterOptInAt"] = self.now()

            self.touch("customers", customer, change)
            self.message(
                "customer", customer, "CustomerFirstNameSet", firstName=customer["firstName"]
            )
            ids.append(customer["id"])
        return ids

    def delete_customers(self, n: int) -> list[str]:
        ids = []
        for customer in self.pick("customers", n):
            with self.lock:
                self.collections["customers"].remove(customer["id"])
            customer["version"] += 1
            self.message("customer", customer, "CustomerDeleted")
            ids.append(customer["id"])
        return ids

    def update_orders(self, n: int) -> list[str]:
        ids = []
        for order in self.pick("orders", n, lambda r: r["orderState"] == "Open"):
            self.touch(
                "orders", order, lambda r: r.update(orderState="Confirmed", shipmentState="Shipped")
            )
            self.message(
                "order", order, "OrderStateChanged", orderState="Confirmed", oldOrderState="Open"
            )
            ids.append(order["id"])
        return ids

    def cancel_orders(self, n: int) -> list[str]:
        ids = []
        for order in self.pick("orders", n, lambda r: r["orderState"] != "Cancelled"):
            old = order["orderState"]
            self.touch("orders", order, lambda r: r.update(orderState="Cancelled"))
            self.message(
                "order", order, "OrderStateChanged", orderState="Cancelled", oldOrderState=old
            )
            ids.append(order["id"])
        return ids


def _ref(type_id: str, **values: str) -> dict[str, str]:
    return {"typeId": type_id, **values}


def seed_project(project: Project) -> None:
    spec, rng = project.spec, project.rng
    consent_type_id = project.new_id()
    created = project.tick()
    project.put(
        "types",
        {
            "id": consent_type_id,
            "version": 1,
            "key": "customer-consent",
            "name": {"en": "Customer consent"},
            "resourceTypeIds": ["customer"],
            "fieldDefinitions": [
                {"name": n, "type": {"name": t}, "required": False, "label": {"en": n}}
                for n, t in [
                    ("newsletterOptIn", "Boolean"),
                    ("newsletterOptInAt", "DateTime"),
                    ("smsOptIn", "Boolean"),
                    ("smsOptInAt", "DateTime"),
                    ("loyaltyTier", "String"),
                ]
            ],
            "createdAt": created,
            "lastModifiedAt": created,
        },
    )
    for key in spec.stores:
        moment = project.tick()
        project.put(
            "stores",
            {
                "id": project.new_id(),
                "version": 1,
                "key": key,
                "name": {"en": key},
                "languages": ["en"],
                "createdAt": moment,
                "lastModifiedAt": moment,
            },
        )
    groups = []
    for key in ("retail", "vip", "b2b"):
        moment = project.tick()
        group = {
            "id": project.new_id(),
            "version": 1,
            "key": key,
            "name": key.upper(),
            "createdAt": moment,
            "lastModifiedAt": moment,
        }
        groups.append(group)
        project.put("customer-groups", group)
    for i in range(20):
        moment = project.tick()
        project.put(
            "products",
            {
                "id": project.new_id(),
                "version": 1,
                "key": f"sku-{i}",
                "productType": _ref("product-type", id="pt-1"),
                "masterData": {"published": True},
                "createdAt": moment,
                "lastModifiedAt": moment,
            },
        )
        project.put(
            "discount-codes",
            {
                "id": project.new_id(),
                "version": 1,
                "code": f"SAVE{i}",
                "isActive": True,
                "cartDiscounts": [],
                "createdAt": moment,
                "lastModifiedAt": moment,
            },
        )

    customers = [_customer(project, i, consent_type_id, groups) for i in range(spec.customers)]
    customers += [_bad_customer(project, i) for i in range(spec.bad_customers)]
    for customer in customers:
        project.put("customers", customer)
    for i in range(spec.orders):
        order = _order(project, i, customers)
        project.put("orders", order)
        if i % 10 == 0:
            project.put(
                "payments",
                {
                    "id": project.new_id(),
                    "version": 1,
                    "amountPlanned": order["totalPrice"],
                    "createdAt": order["createdAt"],
                    "lastModifiedAt": order["lastModifiedAt"],
                },
            )
        if i % 20 == 0:
            project.put(
                "carts",
                {
                    "id": project.new_id(),
                    "version": 1,
                    "cartState": "Active",
                    "customerId": order.get("customerId"),
                    "store": order.get("store"),
                    "lineItems": [],
                    "totalPrice": order["totalPrice"],
                    "createdAt": order["createdAt"],
                    "lastModifiedAt": order["lastModifiedAt"],
                },
            )
    del rng


def _timestamp(project: Project) -> str:
    """Seed times: a share of records lands in a few crowded milliseconds."""
    if project.rng.random() < project.spec.shared_timestamp_share:
        return fmt(SEED_START + timedelta(days=30, milliseconds=project.rng.randrange(5)))
    return project.tick(project.rng.randrange(1, 50))


def _customer(project: Project, i: int, type_id: str, groups: list[dict]) -> dict[str, Any]:
    rng, spec = project.rng, project.spec
    stores = [] if i % 10 == 9 else [rng.choice(spec.stores)]
    country, _, phone_fmt = rng.choice(
        COUNTRIES.get(stores[0] if stores else "eu-web", COUNTRIES["eu-web"])
    )
    phone = (
        phone_fmt.format(i % 10000)
        if phone_fmt.count("{") == 1
        else phone_fmt.format(i % 100, (i // 100) % 100)
    )
    first, last = FIRST[i % len(FIRST)], LAST[(i // 7) % len(LAST)]
    address_id = f"addr-{i}"
    moment = _timestamp(project)
    opted = rng.random() < 0.6
    customer = {
        "id": project.new_id(),
        "version": 1 + rng.randrange(3),
        "key": f"customer-{i}",
        "customerNumber": f"C{100000 + i}",
        "email": f" {first}.{last}{i}@Example.com ".lower(),
        "firstName": first,
        "lastName": last,
        "salutation": rng.choice(["Mr", "Ms", ""]),
        "title": "",
        "dateOfBirth": f"19{60 + i % 40}-0{1 + i % 9}-1{i % 9}",
        "companyName": "Acme GmbH" if i % 5 == 0 else None,
        "vatId": None,
        "password": "****hash-" + str(i),
        "isEmailVerified": True,
        "addresses": [
            {
                "id": address_id,
                "streetName": "Hauptstraße",
                "streetNumber": str(i % 99),
                "postalCode": f"{10000 + i % 89999}",
                "city": "Berlin",
                "region": None,
                "country": country,
                "phone": phone,
                "mobile": None,
            }
        ],
        "defaultBillingAddressId": address_id,
        "locale": {"DE": "de-DE", "FR": "fr-FR", "US": "en-US"}[country],
        "stores": [_ref("store", key=k) for k in stores],
        "customerGroup": _ref("customer-group", id=groups[i % 3]["id"]) if i % 4 == 0 else None,
        "custom": {
            "type": _ref("type", id=type_id),
            "fields": {
                "newsletterOptIn": opted,
                "newsletterOptInAt": moment,
                **({"smsOptIn": True, "smsOptInAt": moment} if i % 3 == 0 else {}),
                "loyaltyTier": rng.choice(["bronze", "silver", "gold"]),
            },
        },
        "authenticationMode": "Password",
        "createdAt": moment,
        "lastModifiedAt": moment,
    }
    return {k: v for k, v in customer.items() if v is not None}


def _bad_customer(project: Project, i: int) -> dict[str, Any]:
    """Records a CRM must refuse or repair: bad email, phone, country, missing id data."""
    moment = _timestamp(project)
    kind = i % 4
    customer = {
        "id": project.new_id(),
        "version": 1,
        "key": f"bad-{i}",
        "customerNumber": f"B{i}",
        "email": ["not-an-email", f"bad{i}@example.com", f"bad{i}@example.com", ""][kind],
        "firstName": "Bad",
        "lastName": f"Record{i}",
        "addresses": [
            {
                "id": "a",
                "country": ["DE", "DE", "XX", "DE"][kind],
                "phone": ["+49 151 0000", "12", "+49 151 23456789", ""][kind],
            }
        ],
        "stores": [],
        "createdAt": moment,
        "lastModifiedAt": moment,
    }
    if kind == 3:
        customer.pop("email")
    return customer


def _order(project: Project, i: int, customers: list[dict]) -> dict[str, Any]:
    rng, spec = project.rng, project.spec
    guest = rng.random() < spec.guest_order_share
    customer = rng.choice(customers)
    store = (customer.get("stores") or [None])[0]
    cents = rng.randrange(500, 50000)
    moment = _timestamp(project)
    order = {
        "id": project.new_id(),
        "version": 1,
        "orderNumber": f"{100000 + i}",
        "customerEmail": customer.get("email") if not guest or i % 2 else f"guest{i}@example.com",
        "store": store or _ref("store", key=rng.choice(spec.stores)),
        "totalPrice": {
            "type": "centPrecision",
            "currencyCode": "EUR",
            "centAmount": cents,
            "fractionDigits": 2,
        },
        "orderState": rng.choice(["Open", "Open", "Confirmed", "Complete"]),
        "paymentState": rng.choice(["Paid", "Pending"]),
        "shipmentState": "Pending",
        "lineItems": [{"id": f"li-{i}-{n}", "quantity": 1} for n in range(1 + i % 4)],
        "origin": "Customer",
        "createdAt": moment,
        "lastModifiedAt": moment,
    }
    if not guest:
        order["customerId"] = customer["id"]
    return order
