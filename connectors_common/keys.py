"""commercetools' key pattern, for every key that reaches a URL path or a scope string.

Project keys and store keys are 2-256 letters, digits, `_` or `-` (commercetools' own rule
for keys); a scope is `name:projectKey` or `name:projectKey:storeKey`. Anything else (a space
that smuggles a second scope into the token request, a `/` or `..` that changes a request
path) is refused. Messages name the field and the rule, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

KEY = re.compile(r"[A-Za-z0-9_-]{2,256}")
SCOPE = re.compile(r"[a-z_]+:[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?")

KEY_RULE = "must be 2-256 letters, digits, '_' or '-'"
SCOPE_RULE = "must be name:projectKey or name:projectKey:storeKey (letters, digits, '_', '-')"


def check_key(value: str) -> str:
    """A project or store key, stripped; `ValueError` with the rule otherwise."""
    key = value.strip()
    if not KEY.fullmatch(key):
        raise ValueError(KEY_RULE)
    return key


def check_scope(value: str) -> str:
    """A scope such as `view_customers:demo`, stripped; `ValueError` with the rule otherwise."""
    scope = value.strip()
    if not SCOPE.fullmatch(scope):
        raise ValueError(SCOPE_RULE)
    return scope


def check_each(values: list[str], check: Callable[[str], str]) -> list[str]:
    """Every value through `check`; the error names the position (`[1] must be …`)."""
    checked = []
    for index, value in enumerate(values):
        try:
            checked.append(check(value))
        except ValueError as error:
            raise ValueError(f"[{index}] {error}") from None
    return checked
