"""What both console scripts do before and after importing airbyte-cdk: start faster, and
keep the garbage collector off the objects that live as long as the process."""

from __future__ import annotations

import gc

YOUNG_OBJECTS_PER_COLLECTION = 50_000


def skip_protocol_field_docs() -> None:
    """Importing airbyte-cdk builds serpyco-rs serializers for the Airbyte protocol classes,
    and each builds a JSON schema of its class decorated with the fields' docstrings, which
    it finds by reading and parsing the source of every class (about half a second of every
    start). Those schemas are never used by a connector run; without the docstrings the
    serializers are the same. Must run before airbyte-cdk is imported."""
    try:
        from serpyco_rs import _describe
        from serpyco_rs._json_schema import _convert
    except ImportError:  # another serpyco-rs layout: start as it is
        return
    for module in (_describe, _convert):
        if hasattr(module, "get_attributes_doc"):
            module.get_attributes_doc = no_docs


def no_docs(cls: type) -> dict[str, str]:
    return {}


def quiet_collector() -> None:
    """Call once the imports are done. Importing airbyte-cdk leaves ~100,000 objects that live
    as long as the process; without `freeze`, every full collection walks them all again. A
    page or batch of records is tens of thousands of young objects, freed by reference
    counting (records hold no cycles); at the default threshold (700) the collector walked
    them dozens of times each (a fifth of the source's CPU, three quarters of the
    destination's JSON decoding). About one young-generation collection per page instead."""
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])
