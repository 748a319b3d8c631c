"""Changes after seeding, as the platform would make them: a new version, `lastModifiedAt`
set to "now" (strictly increasing, after every seeded time) and the matching Messages.

Every change stores a new record dict (see store.py); nothing is edited in place.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.commercetools import locales
from sandbox.commercetools.seed import LOYALTY_TIERS, ref
from sandbox.commercetools.store import COLLECTIONS, TYPE_IDS, Record, Store

ORDER_NEXT_STATE = {"Open": "Confirmed", "Confirmed": "Complete"}
SHIPMENT_FOR_STATE = {"Confirmed": "Shipped", "Complete": "Delivered"}
CREATED_MESSAGES = {"customers": "CustomerCreated", "orders": "OrderCreated"}
# Deletions commercetools announces; carts, payments, customer groups and types are deleted
# without a Message (so are carts removed by their time to live: Store.expire).
DELETED_MESSAGES = {"customers": "CustomerDeleted", "orders": "OrderDeleted"}
RESOURCE_KEY = {"customers": "customer", "orders": "order"}  # payload field in messages


class MutationError(ValueError):
    """A change the sandbox cannot make (unknown resource type, bad object)."""


def collection_name(resource_type: str) -> str:
    """Accept the endpoint name (`discount-codes`), stream name or typeId (`customer`)."""
    name = resource_type.replace("_", "-")
    if name in COLLECTIONS:
        return name
    by_type_id = {type_id: coll for coll, type_id in TYPE_IDS.items()}
    if name in by_type_id:
        return by_type_id[name]
    raise MutationError(f"Unknown resource type {resource_type!r}")


class Mutator:
    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed * 7919 + 1)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # --- building blocks -----------------------------------------------------------

    def pick(self, collection: str, n: int, where: Callable[[Record], bool]) -> list[Record]:
        records = self.store[collection].latest()
        candidates = sorted(i for i, r in records.items() if where(r))
        return [records[i] for i in self.rng.sample(candidates, min(max(n, 0), len(candidates)))]

    def change(
        self, collection: str, record: Record, edit: Callable[[Record], list[dict[str, Any]]]
    ) -> Record:
        """Store an edited copy one version up; `edit` returns the messages it causes."""
        updated = copy.deepcopy(record)
        messages = edit(updated)
        now = self.store.clock.now()
        updated["version"] = record.get("version", 0) + 1
        updated["lastModifiedAt"] = now
        updated["versionModifiedAt"] = now
        self.announce(collection, updated, now, messages)
        self.store.write(collection, updated)
        return updated

    def announce(
        self, collection: str, resource: Record, at: str, messages: list[dict[str, Any]]
    ) -> None:
        """Append Messages about `resource` (as it is after the change) and count them in
        its `lastMessageSequenceNumber`; nothing when the project has messages disabled."""
        if not self.store.messages_enabled or not messages:
            return
        first = resource.get("lastMessageSequenceNumber", 0) + 1
        resource["lastMessageSequenceNumber"] = first + len(messages) - 1
        for sequence, body in enumerate(messages, start=first):
            self.message(collection, resource, at, sequence, body)

    def message(
        self, collection: str, resource: Record, at: str, sequence: int, body: dict[str, Any]
    ) -> None:
        identifiers = {
            k: resource[k] for k in ("key", "customerNumber", "orderNumber") if k in resource
        }
        message = {
            "id": self.new_id(),
            "version": 1,
            "versionModifiedAt": at,
            "sequenceNumber": sequence,
            "resource": ref(TYPE_IDS[collection], id=resource["id"]),
            "resourceVersion": resource.get("version", 1),
            "resourceUserProvidedIdentifiers": identifiers,
            "createdAt": at,
            "lastModifiedAt": at,
            "createdBy": {"isPlatformClient": True},
            "lastModifiedBy": {"isPlatformClient": True},
            **body,
        }
        self.store.write("messages", message)

    # --- customers -----------------------------------------------------------------

    def update_customers(self, n: int) -> list[str]:
        """Each picked customer gets a new first name and flips newsletter consent."""
        with self.store.lock:
            picked = self.pick("customers", n, lambda r: "email" in r)
            for customer in picked:
                self.change("customers", customer, self._edit_customer)
            return [c["id"] for c in picked]

    def _edit_customer(self, customer: Record) -> list[dict[str, Any]]:
        names = [n for n in locales.FIRST_NAMES if n != customer.get("firstName")]
        customer["firstName"] = self.rng.choice(names)
        custom = customer.setdefault("custom", {"type": self._consent_type(), "fields": {}})
        fields = custom.setdefault("fields", {})
        previous = fields.get("newsletterOptIn")
        fields["newsletterOptIn"] = not previous
        fields["newsletterOptInAt"] = self.store.clock.now()
        fields["loyaltyTier"] = self.rng.choice(LOYALTY_TIERS)
        changed = {
            "type": "CustomerCustomFieldChanged",
            "name": "newsletterOptIn",
            "value": fields["newsletterOptIn"],
        }
        if previous is not None:
            changed["previousValue"] = previous
        return [{"type": "CustomerFirstNameSet", "firstName": customer["firstName"]}, changed]

    def _consent_type(self) -> dict[str, str]:
        for record in self.store["types"].latest().values():
            if record.get("key") == "customer-consent":
                return ref("type", id=record["id"])
        raise MutationError("The project has no customer-consent Type")

    def create_customers(self, n: int) -> list[str]:
        ids = []
        for i in range(max(n, 0)):
            first, last = self.rng.choice(locales.FIRST_NAMES), self.rng.choice(locales.LAST_NAMES)
            suffix = self.rng.randrange(10**6)
            created = self.upsert(
                "customers",
                {
                    "email": f"{locales.email_local(first, last)}.new{suffix}@example.com",
                    "firstName": first,
                    "lastName": last,
                    "customerNumber": f"N{suffix:06d}-{i}",
                    "isEmailVerified": False,
                    "addresses": [],
                    "stores": [],
                    "authenticationMode": "Password",
                    "custom": {
                        "type": self._consent_type(),
                        "fields": {"newsletterOptIn": False},
                    },
                },
            )
            ids.append(created["id"])
        return ids

    def delete(self, collection: str, n: int) -> list[str]:
        with self.store.lock:
            picked = self.pick(collection, n, lambda r: True)
            for record in picked:
                self.store[collection].remove(record["id"])
                if collection not in DELETED_MESSAGES:
                    continue
                gone = {**record, "version": record.get("version", 1) + 1}
                body = {"type": DELETED_MESSAGES[collection]}
                if collection == "orders":
                    body["order"] = record
                self.announce(collection, gone, self.store.clock.now(), [body])
            return [r["id"] for r in picked]

    def delete_carts(self, n: int) -> list[str]:
        return self.delete("carts", n)

    def delete_payments(self, n: int) -> list[str]:
        return self.delete("payments", n)

    def set_customer_stores(self, customer_ids: list[str], store_keys: list[str]) -> list[str]:
        """setStores (addStore/removeStore alike): a new version, and no Message at all."""
        with self.store.lock:
            known = self.store.store_keys()
            unknown = sorted(set(store_keys) - known)
            if unknown:
                raise MutationError(f"Unknown stores {unknown}")
            changed = []
            for customer_id in customer_ids:
                customer = self.store["customers"].latest().get(customer_id)
                if customer is None:
                    raise MutationError(f"No customer {customer_id!r}")

                def stores(record: Record) -> list[dict[str, Any]]:
                    record["stores"] = [ref("store", key=key) for key in store_keys]
                    return []

                changed.append(self.change("customers", customer, stores)["id"])
            return changed

    def delete_customers(self, n: int) -> list[str]:
        return self.delete("customers", n)

    def delete_orders(self, n: int) -> list[str]:
        return self.delete("orders", n)

    # --- orders --------------------------------------------------------------------

    def update_orders(self, n: int) -> list[str]:
        """Open → Confirmed (shipped, paid), Confirmed → Complete (delivered)."""
        with self.store.lock:
            picked = self.pick("orders", n, lambda r: r.get("orderState") in ORDER_NEXT_STATE)
            for order in picked:
                self.change("orders", order, self._advance_order)
            return [o["id"] for o in picked]

    def _advance_order(self, order: Record) -> list[dict[str, Any]]:
        old_state, old_shipment = order["orderState"], order.get("shipmentState")
        order["orderState"] = ORDER_NEXT_STATE[old_state]
        order["shipmentState"] = SHIPMENT_FOR_STATE[order["orderState"]]
        if order["orderState"] == "Complete":
            order["completedAt"] = self.store.clock.now()
        shipment = {"type": "OrderShipmentStateChanged", "shipmentState": order["shipmentState"]}
        if old_shipment:
            shipment["oldShipmentState"] = old_shipment
        messages = [
            {
                "type": "OrderStateChanged",
                "orderState": order["orderState"],
                "oldOrderState": old_state,
            },
            shipment,
        ]
        if order.get("paymentState") != "Paid":  # confirmed orders are paid
            old_payment, order["paymentState"] = order.get("paymentState"), "Paid"
            payment = {"type": "OrderPaymentStateChanged", "paymentState": "Paid"}
            messages.append({**payment, "oldPaymentState": old_payment} if old_payment else payment)
        return messages

    def cancel_orders(self, n: int) -> list[str]:
        with self.store.lock:
            picked = self.pick("orders", n, lambda r: r.get("orderState") != "Cancelled")
            for order in picked:
                self.change("orders", order, self._cancel_order)
            return [o["id"] for o in picked]

    @staticmethod
    def _cancel_order(order: Record) -> list[dict[str, Any]]:
        old, order["orderState"] = order["orderState"], "Cancelled"
        return [{"type": "OrderStateChanged", "orderState": "Cancelled", "oldOrderState": old}]

    # --- anything ------------------------------------------------------------------

    def upsert(self, resource_type: str, obj: dict[str, Any]) -> Record:
        """Create (no or unknown id) or replace (known id) a record; returns what is stored.

        A replacement keeps `id` and `createdAt` and goes one version up; a new customer or
        order gets its CustomerCreated / OrderCreated message.
        """
        collection = collection_name(resource_type)
        if not isinstance(obj, dict):
            raise MutationError("upsert needs a JSON object")
        with self.store.lock:
            existing = self.store[collection].latest().get(str(obj.get("id", "")))
            if existing is not None:

                def replace(record: Record) -> list[dict[str, Any]]:
                    keep = {k: record[k] for k in ("id", "createdAt") if k in record}
                    record.clear()
                    record.update(copy.deepcopy(obj), **keep)
                    return []

                return self.change(collection, existing, replace)
            now = self.store.clock.now()
            record = {
                **copy.deepcopy(obj),
                "id": str(obj.get("id") or self.new_id()),
                "version": 1,
                "createdAt": now,
                "lastModifiedAt": now,
                "versionModifiedAt": now,
            }
            if collection in CREATED_MESSAGES:
                body = {"type": CREATED_MESSAGES[collection], RESOURCE_KEY[collection]: record}
                self.announce(collection, record, now, [body])
            self.store.write(collection, record)
            return record
