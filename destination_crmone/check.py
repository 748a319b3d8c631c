"""The checks `check` runs: the journal and where it lives, the credentials and the scopes the
streams need, the contact schema against the mapping, the routed lists, and the activity and
object types the streams write. Each returns problems in a user's words."""

from __future__ import annotations

import logging

from connectors_common.urls import check_resolved_host
from destination_crmone.commerce.mapping import PAYMENT_METHOD_NOTICE, PAYMENT_METHOD_PROPERTY
from destination_crmone.config import DestinationConfig
from destination_crmone.crmone.client import CrmOneClient, CrmOneError
from destination_crmone.crmone.validate import ContactSchema
from destination_crmone.journal import JournalError, open_journal
from destination_crmone.journal.placement import journal_placement, journal_spec
from destination_crmone.records import DEFAULT_CUSTOMER_FIELDS, unwritable_properties
from destination_crmone.schema_check import list_problems, property_problems
from destination_crmone.segments import configured_lists
from destination_crmone.streams import required_activity_types, required_scopes


def problems(config: DestinationConfig, client: CrmOneClient) -> list[str]:
    """Every problem `check` reports: the journal, its placement, the credentials, scopes,
    contact schema, lists and activity/object types (each check's failure is a problem of its
    own, so one message lists them all)."""
    problems: list[str] = []
    try:
        open_journal(journal_spec(config), redact_pii=config.redact_pii).close()
    except JournalError as error:
        problems.append(str(error))
    placement = journal_placement(config)
    if placement.problem:
        problems.append(placement.problem)
    elif placement.warning:
        logging.getLogger("airbyte").warning(placement.warning)
    if problem := check_resolved_host(config.base_url, config.allow_private_network):
        return [*problems, f"base_url: its host {problem}"]  # where DNS points it now
    try:
        account = client.account()
    except CrmOneError as error:
        return [*problems, f"base_url/client_id/client_secret: {error}"]
    granted = account.get("scopes") if isinstance(account, dict) else None
    if isinstance(granted, list):
        absent = [s for s in required_scopes(config) if s not in granted]
        if absent:
            problems.append(f"the CRM One account lacks the scopes {', '.join(absent)}")
    for check in (_check_schema, _check_lists, _check_order_types):
        try:
            problems += check(client, config)
        except (CrmOneError, KeyError, TypeError, ValueError) as error:
            problems.append(f"{check.__name__.removeprefix('_check_')}: {error}")
    return problems


def _check_schema(client: CrmOneClient, config: DestinationConfig) -> list[str]:
    """The default mapping's properties, then every property the config names (by path)."""
    schema = ContactSchema.from_api(client.contact_schema())
    problems = []
    missing = [n for n in unwritable_properties(config, schema) if n in DEFAULT_CUSTOMER_FIELDS]
    if missing:
        problems.append(
            "CRM One's contact schema lacks (or marks read-only) mapped properties: "
            + ", ".join(missing)
        )
    return problems + property_problems(config, schema)


def _check_lists(client: CrmOneClient, config: DestinationConfig) -> list[str]:
    if not configured_lists(config):
        return []
    return list_problems(config, (found.get("id") for found in client.lists()))


def _check_order_types(client: CrmOneClient, config: DestinationConfig) -> list[str]:
    problems = []
    wanted = required_activity_types(config)
    if wanted:
        types = set(client.activity_types())
        absent = [name for name in wanted if name not in types]
        if absent:
            problems.append(f"CRM One lacks the activity types {', '.join(absent)}")
    if config.writes_order_objects:
        objects = client.object_properties()
        if "orders" not in objects:
            problems.append(f"CRM One has no 'orders' object type (orders_as={config.orders_as})")
        elif PAYMENT_METHOD_PROPERTY not in objects["orders"]:
            logging.getLogger("airbyte").warning(PAYMENT_METHOD_NOTICE)
    return problems
