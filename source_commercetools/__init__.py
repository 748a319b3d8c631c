"""source-commercetools: key-set incremental streams from a commercetools project."""

from source_commercetools.source import SourceCommercetools

__all__ = ["SourceCommercetools"]
