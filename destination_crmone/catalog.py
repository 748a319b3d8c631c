"""What the configured catalog asks of the destination: which of its streams are ours, and
whether it asks for something CRM One cannot do (a refresh that truncates, an overwrite).

A destination is paired with any source, so a stream is the destination's only by its exact
name once the connection's prefix is removed:

- `stream_prefix` configured: `<prefix><stream>` is that stream; every other name is ignored
  (a bare `customers` too: the configuration says every name carries the prefix);
- no prefix configured: a catalog whose names are all known streams is taken as it is; else a
  prefix is taken only when every stream of the catalog carries the same one before a known
  name (`ct_customers`, `ct_orders`); otherwise the known names are bound and the rest ignored.
  A guess from a name's ending (`shopify_customers` as customers) is never made.

Each ignored stream is named once, with its reason, in the log and in the run summary; a RECORD
of a stream the configured catalog does not hold is never written (Airbyte sends only what the
user selected: anything else is not the user's choice), and is counted as ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from airbyte_cdk.models import ConfiguredAirbyteCatalog, DestinationSyncMode

NO_USE = "it has no use in CRM One"
NOT_CONFIGURED = "it is not in the configured catalog"
# What PyAirbyte puts in every configured stream it writes (`CatalogProvider.validate_catalog`
# fills missing ids with 1): a placeholder, not a request to truncate.
PYAIRBYTE_PLACEHOLDER_IDS = (1, 1, 1)


@dataclass
class StreamBinding:
    """Catalog stream name → the destination's stream (`customers`…); the others, ignored."""

    routes: dict[str, str]
    prefix: str | None  # as configured, or as detected; None: names taken as they are
    ignored: dict[str, str] = field(default_factory=dict)  # name → reason, in first-seen order

    def route(self, name: str) -> str | None:
        """The stream a record's stream name is, or None: ignored (a name outside the
        configured catalog is added to `ignored` the first time it is seen)."""
        if name in self.routes:
            return self.routes[name]
        self.ignored.setdefault(name, NOT_CONFIGURED)
        return None


def ignored_notice(name: str, reason: str) -> str:
    return f"ignored stream {name}: {reason}; its records were acknowledged, not written"


def bind_streams(
    catalog_names: Iterable[str],
    prefix: str | None,
    known: Iterable[str],
    written: Iterable[str] | None = None,
) -> StreamBinding:
    """The binding of a configured catalog's stream names (see the module's docstring).
    `known`: every stream of the destination (they tell a prefix); `written`: those this
    config writes (default: all); a known stream not written is ignored as of no use."""
    names = list(dict.fromkeys(catalog_names))
    known = frozenset(known)
    written = known if written is None else frozenset(written)
    used_prefix = prefix or detected_prefix(names, known)
    routes: dict[str, str] = {}
    ignored: dict[str, str] = {}
    for name in names:
        stream = unprefixed(name, used_prefix)
        if stream in written:
            routes[name] = stream
        else:
            ignored[name] = NO_USE
    return StreamBinding(routes, used_prefix, ignored)


def unprefixed(name: str, prefix: str | None) -> str | None:
    """The name without the prefix; None when it does not carry it."""
    if not prefix:
        return name
    return name[len(prefix) :] if name.startswith(prefix) else None


def detected_prefix(names: list[str], known: frozenset[str]) -> str | None:
    """The one prefix every name carries before a known stream, when the names are not all
    known streams already; None when there is no such prefix or more than one."""
    if not names or all(name in known for name in names):
        return None
    candidates = {
        names[0][: -len(stream)]
        for stream in known
        if names[0].endswith(stream) and len(names[0]) > len(stream)
    }
    fitting = [
        candidate
        for candidate in candidates
        if all(name.startswith(candidate) and name[len(candidate) :] in known for name in names)
    ]
    return fitting[0] if len(fitting) == 1 else None


def refresh_problem(catalog: ConfiguredAirbyteCatalog) -> str | None:
    """Why the catalog asks for what CRM One cannot do, in a user's words, or None.

    `overwrite` would mean deleting what the stream wrote before; a truncate refresh
    (`minimum_generation_id == generation_id > 0`) would mean deleting every older generation.
    CRM One has no such delete, and re-sending without it would silently keep the old data.
    """
    overwrite = [
        configured.stream.name
        for configured in catalog.streams
        if configured.destination_sync_mode == DestinationSyncMode.overwrite
    ]
    truncate = [
        configured.stream.name
        for configured in catalog.streams
        if is_truncate_refresh(
            configured.generation_id, configured.minimum_generation_id, configured.sync_id
        )
    ]
    problems = []
    if overwrite:
        problems.append(
            f"streams {', '.join(overwrite)} are configured with the overwrite sync mode"
        )
    if truncate:
        problems.append(
            f"streams {', '.join(truncate)} are in a refresh that removes records "
            "(minimum_generation_id equals generation_id)"
        )
    if not problems:
        return None
    return (
        f"CRM One cannot be truncated, but {' and '.join(problems)}. Use a normal sync: the "
        "append or append_dedup sync mode (both upsert), and no refresh that removes records. "
        "To send every record again, reset the source's state (clear the stream's state in "
        "Airbyte, or start the source without a state file): the destination upserts them."
    )


def is_truncate_refresh(
    generation_id: int | None, minimum_generation_id: int | None, sync_id: int | None
) -> bool:
    if generation_id is None or minimum_generation_id is None:
        return False
    if (generation_id, minimum_generation_id, sync_id) == PYAIRBYTE_PLACEHOLDER_IDS:
        return False
    return minimum_generation_id == generation_id > 0
