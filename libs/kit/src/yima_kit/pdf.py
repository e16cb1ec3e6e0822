"""Every document yima prints, on one PDF library (fpdf2) with one CJK font (docs/adr/0101): the mediation
agreement (调解协议书), routing's assignment slip (交办单), insight's reports.

The font is embedded (a subset), so a file reads the same on every reader and its bytes are reproducible:
the same document gives the same bytes (the agreement's SHA-256 identifies it for good).

Where the font comes from, in order: an explicit path (a service setting), the Debian font packages
(``fonts-wqy-zenhei``, ``fonts-wqy-microhei``, ``fonts-noto-cjk``) where installed, then a cache directory.
If none is there, :func:`ensure_cjk_font` fetches ``fonts-wqy-zenhei`` with ``apt-get download`` and unpacks
it into the cache with ``dpkg-deb -x`` — no root-owned install, so it works on a fresh CI machine too. That
is infrastructure: services call it from their adapters (or their wiring), never from ``core/``.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from fpdf import FPDF

from .logging import get_logger

log = get_logger(__name__)

PACKAGE = "fonts-wqy-zenhei"
DEFAULT_CACHE = "~/.cache/yima/fonts"
FONT = "cjk"  # the family name every document sets (``pdf.set_font(FONT, size=…)``)
_RELATIVE = (
    "usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
_lock = threading.Lock()


@dataclass(frozen=True)
class CjkFont:
    path: Path
    collection_index: int = 0


class FontUnavailable(RuntimeError):
    """No CJK font here and none could be fetched; the message (Chinese) names the document."""


def find_cjk_font(explicit: str = "", cache_dir: Path | None = None) -> CjkFont | None:
    """The font, if one is on this machine (no fetch)."""
    if explicit:
        p = Path(explicit).expanduser()
        return CjkFont(p) if p.is_file() else None
    roots = [Path("/")] + ([cache_dir] if cache_dir else [])
    for root in roots:
        for rel in _RELATIVE:
            p = root / rel
            if p.is_file():
                return CjkFont(p)
    return None


def _run(cmd: list[str], cwd: Path) -> bool:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def fetch_cjk_font(cache_dir: Path) -> None:
    """Download the Debian font package and unpack it into ``cache_dir`` (blocking, up to minutes)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ok = _run(["apt-get", "download", PACKAGE], t)
        if not ok:  # a fresh machine may have no package lists yet
            _run(["apt-get", "update", "-qq"], t)
            ok = _run(["apt-get", "download", PACKAGE], t)
        debs = sorted(t.glob(f"{PACKAGE}_*.deb"))
        if ok and debs:
            _run(["dpkg-deb", "-x", str(debs[0]), str(cache_dir)], t)


def ensure_cjk_font(explicit: str = "", cache_dir: str | Path | None = DEFAULT_CACHE,
                    document_zh: str = "PDF") -> CjkFont:
    """Find the font, fetching it into ``cache_dir`` if needed (blocking; call it in a thread). An explicit
    path that is not a file is an error, never a fetch. Raises :class:`FontUnavailable`."""
    cache = Path(cache_dir).expanduser() if cache_dir else None
    missing = f"未找到中文字体，无法生成{document_zh}"
    with _lock:
        found = find_cjk_font(explicit, cache)
        if found:
            return found
        if explicit or cache is None:
            raise FontUnavailable(missing)
        fetch_cjk_font(cache)
        found = find_cjk_font("", cache)
        if not found:
            log.error("cjk font unavailable", package=PACKAGE)
            raise FontUnavailable(missing)
        log.info("cjk font installed into cache", path=str(found.path))
        return found


def cjk_pdf(font: CjkFont, *, title: str, producer: str, orientation: Literal["P", "L"] = "P",
            created_at: datetime | None = None, margin: float = 18) -> FPDF:
    """A new A4 document with the CJK font registered as :data:`FONT` (and selected, 11 pt). ``created_at``
    fixes the creation date (a reproducible document); without it fpdf2 stamps the time of rendering."""
    pdf = FPDF(orientation=orientation, format="A4")
    pdf.set_auto_page_break(auto=True, margin=margin)
    pdf.add_font(FONT, "", str(font.path), collection_font_number=font.collection_index)
    if created_at is not None:
        pdf.set_creation_date(created_at)
    pdf.set_title(title)
    pdf.set_producer(producer)
    pdf.add_page()
    pdf.set_font(FONT, size=11)
    return pdf


def output(pdf: FPDF) -> bytes:
    return bytes(pdf.output())


__all__ = ["DEFAULT_CACHE", "FONT", "CjkFont", "FontUnavailable", "cjk_pdf", "ensure_cjk_font", "fetch_cjk_font",
           "find_cjk_font", "output"]
