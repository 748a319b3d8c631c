"""CRM One API sandbox implementing ../shared/crmone-api/CONTRACT.md (dev only, never shipped)."""

from sandbox.crmone.app import CrmOneApp
from sandbox.crmone.server import CrmOneSandbox

__all__ = ["CrmOneApp", "CrmOneSandbox"]
