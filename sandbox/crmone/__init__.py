"""CRM One API sandbox implementing shared/crmone-api/CONTRACT.md (never shipped in images)."""

from sandbox.crmone.server import CrmOneSandbox

__all__ = ["CrmOneSandbox"]
