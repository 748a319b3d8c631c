"""Console script `destination-crmone`: the Airbyte commands (`spec`, `check`, `write`), plus
`destination-crmone journal …` to read the sync log and the retry queue."""

from __future__ import annotations

import sys

from connectors_common.startup import quiet_collector, skip_protocol_field_docs


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    skip_protocol_field_docs()
    if args[:1] == ["journal"]:
        from destination_crmone.journal.cli import main as journal_main

        sys.exit(journal_main(args[1:]))
    from destination_crmone.destination import DestinationCrmOne

    quiet_collector()
    # One line per message, flushed: a STATE reaches the platform as soon as it is echoed.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    DestinationCrmOne().run(args)


if __name__ == "__main__":
    main()
