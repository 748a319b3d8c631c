"""CRM One API sandbox implementing ../shared/crmone-api/CONTRACT.md (dev only, never shipped)."""

from sandbox.crmone.server import CrmOneApp, CrmOneSandbox

__all__ = ["CrmOneApp", "CrmOneSandbox"]
