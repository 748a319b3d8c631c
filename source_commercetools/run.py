"""Console script `source-commercetools`."""

import sys

from connectors_common.startup import quiet_collector, skip_protocol_field_docs


def main() -> None:
    skip_protocol_field_docs()
    from airbyte_cdk.entrypoint import launch

    from source_commercetools.source import SourceCommercetools

    quiet_collector()
    launch(SourceCommercetools(), sys.argv[1:])


if __name__ == "__main__":
    main()
