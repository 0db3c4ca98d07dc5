"""User-facing errors: the CLI prints their message and exits with code 2, no traceback."""

from pathlib import Path


class SmallfitError(Exception):
    """A problem with the user's input or environment, explained in one readable message."""


def list_some(things, limit: int = 10) -> str:
    """Format up to `limit` items, one per line, saying how many more there are."""
    things = [str(t) for t in things]
    shown = "\n".join(f"  {t}" for t in things[:limit])
    if len(things) > limit:
        shown += f"\n  ... and {len(things) - limit} more"
    return shown


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Stop before any work if `path` exists and replacing it was not asked for."""
    if path.exists() and not overwrite:
        raise SmallfitError(f"{path} already exists; pass --overwrite to replace it.")
