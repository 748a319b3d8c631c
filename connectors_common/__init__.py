"""Rules both connectors share, one place for each: service URLs, commercetools keys,
private files, the datetime form."""

from connectors_common.datetimes import format_datetime
from connectors_common.files import private_dir, private_file, private_opener
from connectors_common.keys import check_each, check_key, check_scope
from connectors_common.urls import check_service_url, is_loopback_host, location_host

__all__ = [
    "check_each",
    "check_key",
    "check_scope",
    "check_service_url",
    "format_datetime",
    "is_loopback_host",
    "location_host",
    "private_dir",
    "private_file",
    "private_opener",
]
