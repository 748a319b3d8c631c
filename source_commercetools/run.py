"""Console script `source-commercetools`."""

import gc
import sys

from airbyte_cdk.entrypoint import launch

from source_commercetools.source import SourceCommercetools


def main() -> None:
    # Importing airbyte-cdk leaves ~100,000 objects that live as long as the process; without
    # this, every full garbage collection during a large read walks them all again.
    gc.freeze()
    launch(SourceCommercetools(), sys.argv[1:])


if __name__ == "__main__":
    main()
