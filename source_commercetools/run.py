"""Console script `source-commercetools`."""

import sys

from airbyte_cdk.entrypoint import launch

from source_commercetools.source import SourceCommercetools


def main() -> None:
    launch(SourceCommercetools(), sys.argv[1:])


if __name__ == "__main__":
    main()
