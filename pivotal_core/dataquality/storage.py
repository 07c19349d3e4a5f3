"""Where uploaded import files are kept: content-addressed under ``dataquality.imports_dir``,
so the job that runs a batch (in any worker) re-reads exactly the bytes that were previewed."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20


def imports_dir(settings: dict[str, Any]) -> Path:
    path = Path(settings["dataquality.imports_dir"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_upload(settings: dict[str, Any], source: BinaryIO, filename: str) -> tuple[str, str]:
    """Copy an uploaded file into the imports folder; returns its stored path and SHA-256."""
    folder = imports_dir(settings)
    digest = hashlib.sha256()
    partial = folder / f".upload-{hashlib.sha256(filename.encode()).hexdigest()[:12]}.part"
    with partial.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    suffix = Path(filename).suffix.lower()[:10] if Path(filename).suffix else ""
    stored = folder / f"{digest.hexdigest()}{suffix}"
    if stored.exists():
        partial.unlink()
    else:
        shutil.move(str(partial), stored)
    return str(stored), digest.hexdigest()
