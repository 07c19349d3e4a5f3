"""Where uploaded import files are kept: content-addressed under ``dataquality.imports_dir``,
so the job that runs a batch (in any worker) re-reads exactly the bytes that were previewed.

A file is written to a partial file (``.upload-*.part``) first, then renamed to
``<sha256>[.<extension>]``; what is no longer needed is removed by
``uploads.clean_uploads``."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20
PARTIAL_PREFIX = ".upload-"
PARTIAL_SUFFIX = ".part"
_STORED_NAME = re.compile(r"[0-9a-f]{64}(\.[^\W_]{1,10})?\Z")


class TooLarge(Exception):
    """The upload went past ``max_bytes``; nothing of it was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the file is larger than {max_bytes:,} bytes")
        self.max_bytes = max_bytes


def imports_dir(settings: dict[str, Any]) -> Path:
    path = Path(settings["dataquality.imports_dir"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_stored_file(path: Path) -> bool:
    """Whether ``path`` is named like a kept file (its SHA-256 and extension)."""
    return bool(_STORED_NAME.match(path.name))


def is_partial_file(path: Path) -> bool:
    """Whether ``path`` is a partial file of :func:`store_upload` (a stopped process may
    leave one behind)."""
    return path.name.startswith(PARTIAL_PREFIX) and path.name.endswith(PARTIAL_SUFFIX)


def _kept_already(stored: Path) -> bool:
    """Whether the same bytes are kept already; if so their time is made now, so that
    ``uploads.clean_uploads`` sees a young file and leaves it to the upload now using it."""
    try:
        os.utime(stored)
    except FileNotFoundError:
        return False
    except PermissionError:
        # Another user's file (a web server's, seen by a command): kept, its time as it was.
        return stored.exists()
    return True


def store_upload(
    settings: dict[str, Any],
    source: BinaryIO,
    filename: str,
    *,
    max_bytes: int | None = None,
    check: Callable[[Path], Any] | None = None,
) -> tuple[str, str]:
    """Copy an uploaded file into the imports folder; returns its stored path and SHA-256.

    ``max_bytes``: refuse a longer file (:class:`TooLarge`). ``check(path)`` looks at the
    copy before it is kept; if it raises, nothing is kept. Each upload is copied to a
    partial file of its own, so uploads of the same name at the same time do not mix.
    """
    folder = imports_dir(settings)
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=folder)
    partial = Path(name)
    try:
        os.chmod(partial, 0o644)  # as a plain open() would make it; workers read it
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(max_bytes)
                digest.update(chunk)
                out.write(chunk)
        if check is not None:
            check(partial)
        # The name is the sender's: only letters and digits of its extension are kept.
        suffix = "".join(c for c in Path(filename).suffix.lower()[:10] if c.isalnum())
        suffix = f".{suffix}" if suffix else ""
        stored = folder / f"{digest.hexdigest()}{suffix}"
        if _kept_already(stored):
            partial.unlink()
        else:
            shutil.move(str(partial), stored)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return str(stored), digest.hexdigest()
