"""`python pyairbyte_sync.py SOURCE_CONFIG DESTINATION_CONFIG`: PyAirbyte runs the pair.

Run by test_pyairbyte.py in a fresh interpreter, because PyAirbyte reads its environment
(`AIRBYTE_OFFLINE_MODE`, `DO_NOT_TRACK`, its directories) once, at import. Both connectors are
local executables: the console scripts next to this Python. Prints one JSON line of results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import airbyte as ab

BIN = Path(sys.executable).parent


def main(source_config: Path, destination_config: Path) -> None:
    source = ab.get_source(
        "source-commercetools",
        config=json.loads(source_config.read_text()),
        local_executable=BIN / "source-commercetools",
        streams="*",
    )
    source.check()
    destination = ab.get_destination(
        "destination-crmone",
        config=json.loads(destination_config.read_text()),
        local_executable=BIN / "destination-crmone",
    )
    destination.check()
    result = destination.write(source, cache=False, state_cache=False)
    print(json.dumps({"processed_records": result.processed_records}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
