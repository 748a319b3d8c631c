"""Which scopes to ask commercetools for, given what the API client really holds.

First the source asks for the project-wide read-only scopes of the streams it reads (or the
user's `scopes`). When commercetools refuses (`invalid_scope`), a token asked without `scope`
tells what the client holds, and `plan_scopes` decides:

- a client created with `manage_project:{pk}` cannot get a narrower token: use it as it is,
  with a warning that it is over-privileged;
- a store-scoped client (`view_customers:{pk}:{storeKey}`…) with `store_keys` set: ask for the
  store-scoped scopes of customers, orders and carts;
- a scope the client has in no form: that stream cannot be read; the plan names the scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Declared(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def store_scoped(self) -> bool: ...


@dataclass
class ScopePlan:
    scopes: list[str] | None  # what to ask for; None: ask for nothing (all the client holds)
    warnings: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # stream → the scope it lacks


def project_scopes(project_key: str, streams: Iterable[Declared]) -> list[str]:
    """The project-wide read-only scopes of these streams, each once, in stream order."""
    return list(dict.fromkeys(f"{s.scope}:{project_key}" for s in streams))


def store_scopes(project_key: str, stream: Declared, store_keys: Sequence[str]) -> list[str]:
    return [f"{stream.scope}:{project_key}:{store}" for store in store_keys]


def plan_scopes(
    project_key: str,
    streams: Sequence[Declared],
    store_keys: Sequence[str],
    held: Iterable[str],
) -> ScopePlan:
    """What to ask for once a request for the project-wide scopes was refused."""
    held = set(held)
    if f"manage_project:{project_key}" in held:
        return ScopePlan(
            None,
            [
                f"The API client has manage_project:{project_key}: it may change and delete "
                "everything in the project, far more than this read-only source needs, and "
                "commercetools gives it no narrower token. It is used as it is; create an API "
                "client with only the view_* scopes "
                f"({', '.join(project_scopes(project_key, streams))}) and use that instead."
            ],
        )
    scopes: list[str] = []
    unreadable: dict[str, str] = {}
    for stream in streams:
        wide = f"{stream.scope}:{project_key}"
        in_stores = store_scopes(project_key, stream, store_keys) if stream.store_scoped else []
        if wide in held:
            scopes.append(wide)
        elif in_stores and all(scope in held for scope in in_stores):
            scopes.extend(in_stores)
        else:
            unreadable[stream.name] = wide + (f" (or {', '.join(in_stores)})" if in_stores else "")
    warnings = []
    if unreadable:
        warnings.append(
            "The API client cannot read these streams; add the scope to the client (Merchant "
            "Center > Settings > Developer settings > API clients) or do not select them: "
            + "; ".join(f"{name} needs {scope}" for name, scope in unreadable.items())
        )
    return ScopePlan(list(dict.fromkeys(scopes)), warnings, unreadable)
