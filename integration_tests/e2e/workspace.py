"""A test's connector files: configs for both sandboxes and the configured catalog."""

from __future__ import annotations

from pathlib import Path

from demo.pipeline import configured_catalog, write_json
from demo.sandboxes import Sandboxes


def write_configs(
    sandboxes: Sandboxes, workdir: Path, *, source: dict | None = None
) -> dict[str, Path]:
    """source.json, destination.json (journal in `workdir`) and catalog.json from discover."""
    paths = {name: workdir / f"{name}.json" for name in ("source", "destination", "catalog")}
    write_json(paths["source"], sandboxes.source_config(**(source or {})))
    write_json(paths["destination"], sandboxes.destination_config(workdir / "journal.sqlite"))
    write_json(paths["catalog"], configured_catalog(paths["source"]))
    return paths
