"""A CJK font for the PDF reports (the same lookup as mediation's agreements: Chinese, embedded in the file).

Looked up in order: an explicit path (setting ``YIMA_MEDIATION_CJK_FONT``), the Debian font packages
(``fonts-wqy-zenhei``, ``fonts-noto-cjk``, ``fonts-wqy-microhei``) where installed, then a cache
directory. If none is there, :func:`ensure_cjk_font` fetches the Debian package ``fonts-wqy-zenhei``
with ``apt-get download`` and unpacks it into the cache with ``dpkg-deb -x`` — no root-owned install,
no dependency resolution, so it works on a fresh CI machine too.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from yima_kit.logging import get_logger

log = get_logger(__name__)

PACKAGE = "fonts-wqy-zenhei"
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
    pass


def find_cjk_font(explicit: str = "", cache_dir: Path | None = None) -> CjkFont | None:
    if explicit:
        p = Path(explicit)
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


def ensure_cjk_font(explicit: str = "", cache_dir: Path | None = None) -> CjkFont:
    """Find the font, fetching the Debian package into ``cache_dir`` if needed (blocking; call in a thread)."""
    with _lock:
        found = find_cjk_font(explicit, cache_dir)
        if found or explicit or cache_dir is None:
            if found:
                return found
            raise FontUnavailable("未找到中文字体，无法生成PDF报表")
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
        found = find_cjk_font("", cache_dir)
        if not found:
            log.error("cjk font unavailable", package=PACKAGE)
            raise FontUnavailable("未找到中文字体，无法生成PDF报表")
        log.info("cjk font installed into cache", path=str(found.path))
        return found
