"""source-commercetools: key-set incremental streams from a commercetools project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from source_commercetools.source import SourceCommercetools

__all__ = ["SourceCommercetools"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the console script (run.py) decides what happens before
    # airbyte-cdk is imported.
    if name == "SourceCommercetools":
        from source_commercetools.source import SourceCommercetools

        return SourceCommercetools
    raise AttributeError(f"module 'source_commercetools' has no attribute {name!r}")
