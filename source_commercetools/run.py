"""Console script `source-commercetools`."""

import gc
import sys

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


def main() -> None:
    skip_protocol_field_docs()
    from airbyte_cdk.entrypoint import launch

    from source_commercetools.source import SourceCommercetools

    # Importing airbyte-cdk leaves ~100,000 objects that live as long as the process; without
    # this, every full garbage collection during a large read walks them all again.
    gc.freeze()
    # A page of 500 records is ~15,000 young objects, alive until emitted and then freed by
    # reference counting (records hold no cycles). At the default threshold (700) the
    # collector walked the pages in flight dozens of times each: ~6 us a record, a fifth of
    # the source's CPU. About one young-generation collection per page instead.
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])
    launch(SourceCommercetools(), sys.argv[1:])


if __name__ == "__main__":
    main()
