"""The case file handed over on a transfer (诉调对接): one zip with a manifest, the case's timeline, its
sessions and its documents, each file with its own SHA-256, and the SHA-256 of the whole zip.

Deterministic (fixed timestamps, sorted entries), so the same file always gives the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

_FIXED = (2000, 1, 1, 0, 0, 0)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2, default=str).encode()


def build_package(manifest: dict[str, Any], files: dict[str, bytes]) -> tuple[bytes, str]:
    """Returns (zip bytes, sha256 hex). ``files`` maps a path inside the zip to its content."""
    entries = dict(files)
    manifest = {**manifest, "files": {p: hashlib.sha256(b).hexdigest() for p, b in sorted(entries.items())}}
    entries["manifest.json"] = _json(manifest)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted(entries):
            info = zipfile.ZipInfo(path, date_time=_FIXED)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, entries[path])
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def json_file(obj: Any) -> bytes:
    return _json(obj)
