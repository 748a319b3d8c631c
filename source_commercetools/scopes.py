"""Which scopes to ask commercetools for, given what the API client really holds.

First the source asks for the project-wide read-only scopes of the streams it reads (or the
user's `scopes`). When commercetools refuses (`invalid_scope`), a token asked without `scope`
tells what the client holds, and `plan_scopes` decides:

- a client created with `manage_project:{pk}` cannot get a narrower token: use it as it is,
  with a warning that it is over-privileged;
- a store-scoped client (`view_customers:{pk}:{storeKey}`…) with `store_keys` set: ask for the
  store-scoped scopes of customers, orders and carts;
- `manage_X` implies `view_X`: a client holding only `manage_customers:{pk}` reads customers
  with it (asked for as it is, since a client cannot ask for a scope it does not hold);
- a client holding any `manage_*` scope gets a warning that it is over-privileged;
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


def manage_of(scope: str) -> str:
    """`view_customers:pk[:store]` → `manage_customers:pk[:store]`, which implies it."""
    return "manage_" + scope.removeprefix("view_")


def usable(scope: str, held: set[str]) -> str | None:
    """The held scope that reads what `scope` (a view_ scope) reads: itself, else its manage_."""
    if scope in held:
        return scope
    return manage_of(scope) if manage_of(scope) in held else None


def over_privileged(held: Iterable[str]) -> str | None:
    """A warning for a client that may change data (manage_* scopes), or None."""
    manage = sorted(scope for scope in held if scope.startswith("manage_"))
    if not manage:
        return None
    return (
        f"The API client holds write scopes ({', '.join(manage)}): it may change or delete data, "
        "more than this read-only source needs. A manage_ scope is used only where the client "
        "lacks the matching view_ scope; create an API client with only view_* scopes and use "
        "that instead."
    )


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
        held_in_stores = [usable(scope, held) for scope in in_stores]
        if scope := usable(wide, held):
            scopes.append(scope)
        elif in_stores and all(held_in_stores):
            scopes.extend(scope for scope in held_in_stores if scope)
        else:
            unreadable[stream.name] = wide + (f" (or {', '.join(in_stores)})" if in_stores else "")
    warnings = [warning] if (warning := over_privileged(held)) else []
    if unreadable:
        warnings.append(
            "The API client cannot read these streams; add the scope to the client (Merchant "
            "Center > Settings > Developer settings > API clients) or do not select them: "
            + "; ".join(f"{name} needs {scope}" for name, scope in unreadable.items())
        )
    return ScopePlan(list(dict.fromkeys(scopes)), warnings, unreadable)
