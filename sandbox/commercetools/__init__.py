"""commercetools API sandbox for local runs and tests (never shipped in connector images)."""

from sandbox.commercetools.seed import SeedSpec
from sandbox.commercetools.server import CommercetoolsSandbox

__all__ = ["CommercetoolsSandbox", "SeedSpec"]
