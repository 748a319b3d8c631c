"""Run statistics: one counter set per stream, kept thread-safe, summarised once."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

EXAMPLES_PER_CODE = 3


class RunStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.streams: dict[str, Counter[str]] = defaultdict(Counter)
        self.rejected: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))

    def add(self, stream: str, key: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self.streams[stream][key] += count

    def reject(self, stream: str, code: str, reason: str, kind: str = "rejected") -> None:
        with self._lock:
            self.streams[stream][kind] += 1
            self.rejected[stream][code] += 1
            examples = self.examples[stream][code]
            if len(examples) < EXAMPLES_PER_CODE:
                examples.append(reason)

    def as_dict(self, *, requests: int, retries: int, duration_seconds: float) -> dict[str, Any]:
        """The JSON kept in the journal's `runs.stats` (shape documented in docs/internals.md)."""
        with self._lock:
            return {
                "streams": {
                    name: {
                        "counts": dict(counts),
                        "rejected_by_code": dict(self.rejected.get(name, {})),
                        "examples": {k: list(v) for k, v in self.examples.get(name, {}).items()},
                    }
                    for name, counts in sorted(self.streams.items())
                },
                "requests": requests,
                "retries": retries,
                "duration_seconds": round(duration_seconds, 3),
            }


def summary_text(stats: dict[str, Any]) -> str:
    lines = [
        f"CRM One sync: {stats['requests']} requests, {stats['retries']} retries, "
        f"{stats['duration_seconds']} s"
    ]
    for name, part in stats["streams"].items():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(part["counts"].items()))
        lines.append(f"  {name}: {counts}")
        for code, count in part["rejected_by_code"].items():
            example = (part["examples"].get(code) or [""])[0]
            lines.append(f"    {code} x{count}: {example}")
    return "\n".join(lines)
