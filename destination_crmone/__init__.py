"""destination-crmone: commercetools data into CRM One (contacts, consents, order activities).

`DestinationCrmOne` (in `destination.py`) is importable from the package root.
"""

from typing import Any

__all__ = ["DestinationCrmOne"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the pure modules (config, mapping, validate, merge) import without the CDK's
    # destination machinery.
    if name == "DestinationCrmOne":
        from destination_crmone.destination import DestinationCrmOne

        return DestinationCrmOne
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
