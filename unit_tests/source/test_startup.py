"""The console script's start-up shortcut changes nothing a run writes."""

from __future__ import annotations

import json
import subprocess
import sys

# Reads protocol messages (JSON lines) on stdin, writes them back through airbyte-cdk's
# serializers, and the spec message last; with "shortcut", after skip_protocol_field_docs.
ROUND_TRIP = """
import logging, sys
if sys.argv[1] == "shortcut":
    from connectors_common.startup import no_docs, skip_protocol_field_docs
    skip_protocol_field_docs()
    from serpyco_rs._json_schema import _convert
    assert _convert.get_attributes_doc is no_docs, "the shortcut no longer applies"
import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, Type
from airbyte_cdk.models.airbyte_protocol_serializers import AirbyteMessageSerializer
from source_commercetools.source import SourceCommercetools
for line in sys.stdin:
    message = AirbyteMessageSerializer.load(orjson.loads(line))
    print(AirbyteEntrypoint.airbyte_message_to_string(message))
spec = SourceCommercetools().spec(logging.getLogger())
print(AirbyteEntrypoint.airbyte_message_to_string(AirbyteMessage(type=Type.SPEC, spec=spec)))
"""

MESSAGES = [
    {
        "type": "RECORD",
        "record": {
            "stream": "customers",
            "data": {"id": "c-1", "x": [1, {"y": None}]},
            "emitted_at": 1,
        },
    },
    {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "customers"},
                "stream_state": {"lastModifiedAt": "2025-01-01T00:00:00.000Z", "__ab_x": 1},
            },
        },
    },
    {"type": "LOG", "log": {"level": "INFO", "message": "hello"}},
]


def round_trip(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, mode],
        input="\n".join(json.dumps(message) for message in MESSAGES),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_skipping_the_protocol_docstrings_leaves_every_message_the_same():
    shortcut, plain = round_trip("shortcut"), round_trip("plain")
    assert shortcut == plain
    lines = shortcut.splitlines()
    assert len(lines) == 4
    assert '"__ab_x":1' in lines[1] and '"type":"SPEC"' in lines[3]
