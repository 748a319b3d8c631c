"""Console script `destination-crmone`: the Airbyte commands, plus `journal …`."""

import sys

from destination_crmone.destination import DestinationCrmOne


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["journal"]:
        from destination_crmone.journal.cli import main as journal_main

        sys.exit(journal_main(argv[1:]))
    DestinationCrmOne().run(argv)


if __name__ == "__main__":
    main()
