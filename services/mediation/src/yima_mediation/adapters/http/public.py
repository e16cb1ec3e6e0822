"""Public (no login): anyone holding a copy of an agreement checks it is the archived one; no personal
data in the answer."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from fastapi import APIRouter, Request
from yima_kit.runtime import Runtime

from ...application import Refused
from .deps import Svc, error


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])

    @r.get("/verify/{sha256}", tags=["public"], summary="核验协议书 Verify an agreement by its SHA-256")
    async def verify(svc: Svc, sha256: str) -> Any:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise Refused(400, "sha256", "invalid_hash", "摘要应为64位十六进制SHA-256")
        found = await svc.verify(sha256)
        if found is None:
            return error(404, [{"field": "sha256", "code": "not_found", "message": "未找到与该摘要一致的已签署协议"}])
        return found

    @r.post("/verify", tags=["public"], summary="上传文件核验 Verify an uploaded PDF")
    async def verify_upload(svc: Svc, request: Request) -> Any:
        body = await request.body()
        if not body or len(body) > 20 * 1024 * 1024:
            raise Refused(400, "body", "bad_file", "请上传协议书PDF文件（不超过20MB）")
        digest = hashlib.sha256(body).hexdigest()
        found = await svc.verify(digest)
        return found or {"valid": False, "sha256": digest, "message": "文件与平台存档不一致或未签署"}

    return r
