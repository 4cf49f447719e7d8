"""Command-line entry point (placeholder until the run loop lands in this session)."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    return 0
