"""Carts, the order lifecycle, guest contacts, payments, order history and store departures."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from destination_crmone import segments
from destination_crmone.commerce.mapping import (
    abandoned_activity,
    abandoned_since,
    cart_transition,
    guest_contact,
    guest_email,
    map_cart,
    map_order_events,
    order_cart_id,
    order_history_properties,
    order_recovery,
    recovered_activity,
)
from destination_crmone.journal.commerce import CartRow, OrderFact
from unit_tests.destination.test_mapping import (
    CUSTOMER_ID,
    ORDER_ID,
    SCHEMA,
    make_config,
    make_order,
    no_resolver,
)

CART_ID = "c4a7e000-0000-4000-8000-0000000000aa"


def make_cart(**changes: Any) -> dict[str, Any]:
    cart: dict[str, Any] = {
        "id": CART_ID,
        "version": 4,
        "cartState": "Active",
        "customerId": CUSTOMER_ID,
        "customerEmail": "ana.silva@example.com",
        "store": {"typeId": "store", "key": "eu-web"},
        "lineItems": [{"id": "li-1"}, {"id": "li-2"}],
        "totalPrice": {"currencyCode": "EUR", "centAmount": 5990, "fractionDigits": 2},
        "createdAt": "2026-11-26T10:00:00.000Z",
        "lastModifiedAt": "2026-11-26T10:05:00.000Z",
    }
    cart.update(changes)
    return cart


# --- carts ---------------------------------------------------------------------------------


def test_an_active_cart_starts_a_checkout_and_is_open():
    mapped = map_cart(make_cart(), make_config(), no_resolver)
    assert not mapped.rejected and not mapped.skipped and mapped.state == "open"
    assert mapped.contact_key == f"ext:{CUSTOMER_ID}"
    assert [a.to_api() for a in mapped.activities] == [
        {
            "external_id": f"cart:{CART_ID}:checkout_started",
            "contact_external_id": CUSTOMER_ID,
            "type": "checkout_started",
            "occurred_at": "2026-11-26T10:00:00.000Z",
            "subject": "Checkout started",
            "amount": {"amount": "59.90", "currency": "EUR"},
            "store": "eu-web",
            "properties": {"cart_id": CART_ID, "cart_state": "Active", "line_items": 2},
        }
    ]
    abandoned = mapped.abandoned.to_api()
    assert abandoned["external_id"] == f"cart:{CART_ID}:abandoned"
    assert abandoned["type"] == "cart_abandoned"
    assert abandoned["properties"]["recovered"] is False


@pytest.mark.parametrize(
    ("cart_state", "state"),
    [("Active", "open"), ("Ordered", "recovered"), ("Merged", "closed"), ("Frozen", "closed")],
)
def test_every_cart_state_starts_a_checkout(cart_state, state):
    mapped = map_cart(make_cart(cartState=cart_state), make_config(), no_resolver)
    assert mapped.state == state
    assert [a.type for a in mapped.activities] == ["checkout_started"]
    assert mapped.activities[0].properties["cart_state"] == cart_state


def test_an_empty_cart_is_skipped_and_never_open():
    mapped = map_cart(make_cart(lineItems=[]), make_config(), no_resolver)
    assert mapped.skipped and mapped.state == "closed" and mapped.activities == []


def test_guest_carts_follow_the_guest_rules():
    guest = make_cart(customerId=None, customerEmail=" Guest@Example.com ")
    mapped = map_cart(guest, make_config(), no_resolver)
    assert mapped.contact_email == "guest@example.com" and mapped.contact_external_id is None
    assert guest_email(guest, mapped) == "guest@example.com"
    assert mapped.activities[0].to_api()["contact_email"] == "guest@example.com"
    skipped = map_cart(guest, make_config(guest_orders="skip"), no_resolver)
    assert skipped.skipped and "guest cart" in skipped.skipped_reason
    anonymous = map_cart(make_cart(customerId=None, customerEmail=None), make_config(), None)
    assert anonymous.skipped and anonymous.activities == []


def test_a_cart_with_a_bad_customer_id_or_email_is_rejected():
    assert map_cart(make_cart(customerId=42), make_config(), no_resolver).rejected
    bad_email = make_cart(customerId=None, customerEmail="not-an-email")
    assert map_cart(bad_email, make_config(), no_resolver).rejected
    assert map_cart(make_cart(id=None), make_config(), no_resolver).rejected


def test_abandoned_activity_occurs_when_the_threshold_passed():
    mapped = map_cart(make_cart(), make_config(), no_resolver)
    activity = abandoned_activity(mapped.abandoned.to_api(), mapped.last_modified_at, 24)
    assert activity.occurred_at == "2026-11-27T10:05:00.000Z"
    assert activity.external_id == f"cart:{CART_ID}:abandoned"
    now = datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    assert abandoned_since(now, 24) == "2026-11-26T10:05:00.000Z"


def test_recovery_updates_the_same_activity():
    mapped = map_cart(make_cart(), make_config(), no_resolver)
    written = abandoned_activity(mapped.abandoned.to_api(), mapped.last_modified_at, 24).to_api()
    recovered = recovered_activity(written, ORDER_ID).to_api()
    assert recovered["external_id"] == written["external_id"]
    assert recovered["occurred_at"] == written["occurred_at"]
    assert recovered["properties"] == {
        **written["properties"],
        "recovered": True,
        "order_id": ORDER_ID,
    }
    assert "order_id" not in recovered_activity(written).properties
    assert order_cart_id(make_order(cart={"typeId": "cart", "id": CART_ID})) == CART_ID
    assert order_cart_id(make_order()) is None


# --- the order lifecycle -------------------------------------------------------------------


def test_order_updated_per_state_reached_and_returned_per_entry():
    order = make_order(
        returnInfo=[
            {"items": [{"quantity": 1}, {"quantity": 2}], "returnDate": "2026-11-29T08:00:00Z"},
            {"items": [{"quantity": 1}], "returnTrackingId": "RT-2"},
        ]
    )
    mapped = map_order_events(order, make_config(), no_resolver)
    by_id = {a.external_id: a for a in mapped.activities}
    assert list(by_id) == [
        f"order:{ORDER_ID}:placed",
        f"order:{ORDER_ID}:shipment:Shipped",
        f"order:{ORDER_ID}:payment:Paid",
        f"order:{ORDER_ID}:returned:1",
        f"order:{ORDER_ID}:returned:2",
    ]
    shipped = by_id[f"order:{ORDER_ID}:shipment:Shipped"]
    assert (shipped.type, shipped.occurred_at) == ("order_updated", "2026-11-27T09:00:00.000Z")
    assert shipped.properties["change"] == "shipment"
    assert shipped.contact_external_id == CUSTOMER_ID and shipped.amount["amount"] == "59.90"
    first = by_id[f"order:{ORDER_ID}:returned:1"]
    assert first.type == "order_returned" and first.occurred_at == "2026-11-29T08:00:00.000Z"
    assert (first.properties["return_items"], first.properties["return_quantity"]) == (2, 3)
    second = by_id[f"order:{ORDER_ID}:returned:2"]
    assert second.occurred_at == "2026-11-27T09:00:00.000Z"
    assert second.properties["return_tracking_id"] == "RT-2"


def test_initial_states_add_nothing_and_objects_only_add_no_activities():
    pending = make_order(paymentState="Pending", shipmentState="Pending")
    mapped = map_order_events(pending, make_config(), no_resolver)
    assert [a.type for a in mapped.activities] == ["order_placed"]
    objects = map_order_events(make_order(), make_config(orders_as="objects"), no_resolver)
    assert objects.activities == []
    assert objects.object.properties["shipment_state"] == "Shipped"
    assert objects.object.properties["payment_state"] == "Paid"


def test_a_cancelled_order_keeps_its_lifecycle():
    mapped = map_order_events(make_order(orderState="Cancelled"), make_config(), no_resolver)
    assert [a.type for a in mapped.activities] == [
        "order_placed",
        "order_cancelled",
        "order_updated",
        "order_updated",
    ]


# --- guest contacts ------------------------------------------------------------------------


def test_guest_contact_takes_what_the_order_knows():
    order = make_order(
        customerId=None,
        customerEmail="Guest@Example.com",
        locale="de-DE",
        billingAddress={
            "firstName": "Gina",
            "lastName": "Gast",
            "streetName": "Ring",
            "streetNumber": "2",
            "postalCode": "50667",
            "city": "Köln",
            "country": "DE",
            "phone": "0221 1234567",
        },
        custom={"fields": {"newsletterOptIn": True}},
    )
    mapped = map_order_events(order, make_config(), no_resolver)
    email = guest_email(order, mapped)
    assert email == "guest@example.com"
    contact = guest_contact(order, email, SCHEMA, make_config())
    assert contact.external_id is None and contact.consents == []
    assert contact.properties == {
        "email": "guest@example.com",
        "first_name": "Gina",
        "last_name": "Gast",
        "street": "Ring 2",
        "postal_code": "50667",
        "city": "Köln",
        "country": "DE",
        "phone": "+492211234567",
        "locale": "de-DE",
        "store": "eu-web",
        "stores": ["eu-web"],
    }
    assert not contact.rejected


def test_guest_contact_leaves_bad_optional_values_out():
    order = make_order(
        customerId=None, billingAddress={"firstName": "Gina", "country": "XX", "phone": "12"}
    )
    contact = guest_contact(order, "guest@example.com", SCHEMA, make_config())
    assert not contact.rejected and {i.field for i in contact.warnings} == {"country", "phone"}
    assert "country" not in contact.properties and contact.properties["first_name"] == "Gina"


def test_registered_buyers_create_no_guest_contact():
    order = make_order()
    assert guest_email(order, map_order_events(order, make_config(), no_resolver)) is None


# --- order history -------------------------------------------------------------------------


def test_order_history_in_the_first_orders_currency():
    facts = [
        OrderFact("o2", "2026-11-02T00:00:00.000Z", "10.5", "EUR"),
        OrderFact("o1", "2026-11-01T00:00:00.000Z", "20.00", "EUR"),
        OrderFact("o3", "2026-11-03T00:00:00.000Z", "99.00", "USD"),
        OrderFact("o4", "2026-11-04T00:00:00.000Z", "50.00", "EUR", cancelled=True),
    ]
    assert order_history_properties(facts) == {
        "order_count": 3,
        "last_order_at": "2026-11-03T00:00:00.000Z",
        "total_spent": {"amount": "30.50", "currency": "EUR"},
    }
    assert order_history_properties([]) == {}
    no_money = order_history_properties([OrderFact("o", "2026-11-01T00:00:00.000Z", None, None)])
    assert no_money == {"order_count": 1, "last_order_at": "2026-11-01T00:00:00.000Z"}


# --- store departures ----------------------------------------------------------------------

ROUTING = {
    "store_routing": [
        {
            "store_key": "eu-web",
            "list_ids": ["l_eu", "l_all"],
            "properties": {"region": "EU", "tier": "x"},
        },
        {"store_key": "us-web", "list_ids": ["l_us", "l_all"], "properties": {"region": "US"}},
    ]
}


def test_leaving_a_store_leaves_its_lists_and_clears_its_properties():
    """store_routing both ways, now as routing rules and remembered memberships."""
    config = make_config(**copy.deepcopy(ROUTING))

    def store_departure(previous: list[str], current: list[str]):
        then = segments.remembered(previous, config)
        return segments.departure(then, segments.route(config, lambda path: current))

    gone = store_departure(["eu-web", "us-web"], ["us-web"])
    assert gone.remove_list_ids == ("l_eu",)  # l_all stays: us-web adds it too
    assert gone.clear_properties == ("tier",)  # region: us-web sets it
    gone = store_departure(["eu-web"], [])
    assert gone.remove_list_ids == ("l_eu", "l_all")
    assert set(gone.clear_properties) == {"region", "tier"}
    assert not store_departure(["eu-web"], ["eu-web", "us-web"])
    assert not store_departure(["b2b"], [])  # not a routed store


# --- what the journal remembers of a cart --------------------------------------------------


def remembered(state: str, stamp: str = "2026-11-26T10:05:00.000Z", **properties: Any):
    mapped = map_cart(make_cart(), make_config(), no_resolver)
    activity = mapped.abandoned.to_api()
    activity["properties"] = {**activity["properties"], **properties}
    return CartRow(CART_ID, state, mapped.contact_key, stamp, activity)


def test_an_active_cart_is_remembered_open_until_it_is_written_abandoned():
    mapped = map_cart(make_cart(), make_config(), no_resolver)
    row, recovery = cart_transition(None, mapped)
    assert (row.state, row.last_modified_at, recovery) == ("open", "2026-11-26T10:05:00.000Z", None)
    assert row.activity == mapped.abandoned.to_api()
    changed = map_cart(make_cart(lastModifiedAt="2026-11-26T11:00:00Z"), make_config(), None)
    assert cart_transition(row, changed)[0].last_modified_at == "2026-11-26T11:00:00.000Z"
    # written once: a later change of an abandoned cart does not reopen it
    assert cart_transition(remembered("abandoned"), changed) == (None, None)


def test_an_ordered_cart_recovers_its_abandoned_activity_once():
    ordered = map_cart(make_cart(cartState="Ordered"), make_config(), no_resolver)
    row, recovery = cart_transition(remembered("abandoned"), ordered)
    assert row.state == "recovered" and recovery.properties["recovered"] is True
    assert recovery.external_id == f"cart:{CART_ID}:abandoned"
    assert cart_transition(row, ordered) == (None, None)
    assert cart_transition(None, ordered) == (None, None)  # never abandoned: nothing to do
    assert cart_transition(remembered("open"), ordered)[0].state == "closed"


@pytest.mark.parametrize("cart_state", ["Merged", "Frozen"])
def test_a_cart_that_is_no_longer_active_is_closed(cart_state):
    closed = map_cart(make_cart(cartState=cart_state), make_config(), no_resolver)
    assert cart_transition(remembered("open"), closed)[0].state == "closed"
    assert cart_transition(remembered("abandoned"), closed) == (None, None)
    emptied = map_cart(make_cart(lineItems=[]), make_config(), no_resolver)
    assert cart_transition(remembered("open"), emptied)[0].state == "closed"


def test_an_older_copy_of_a_cart_changes_nothing():
    older = map_cart(make_cart(lastModifiedAt="2026-11-25T00:00:00Z"), make_config(), None)
    assert cart_transition(remembered("open"), older) == (None, None)


def test_an_order_from_an_abandoned_cart_names_itself_once():
    row, recovery = order_recovery(remembered("abandoned"), ORDER_ID)
    assert recovery.properties["order_id"] == ORDER_ID and row.state == "recovered"
    assert order_recovery(row, ORDER_ID) == (None, None)
    flagged = remembered("recovered", recovered=True)  # recovered by the cart stream first
    assert order_recovery(flagged, ORDER_ID)[1].properties["order_id"] == ORDER_ID
    assert order_recovery(remembered("open"), ORDER_ID) == (remembered("closed"), None)
    assert order_recovery(None, ORDER_ID) == (None, None)
