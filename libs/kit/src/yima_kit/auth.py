"""Staff identity for every service: Ed25519-signed tokens (JWT, alg EdDSA) whose claims name the unit
and role. Routing issues them at login (it owns the directory and staff); every service verifies them
with the public keys alone, so the same rules hold on every path.

Keys rotate: tokens carry a ``kid``; a verifier holds several public keys at once. Without configured
keys a development key pair is used and a warning is logged — never in production.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import StaffRole
from yima_contracts.topics import UNIT_CODE_PATTERN

ISSUER = "yima-routing"
AUDIENCE = "yima"
ALGORITHM = "EdDSA"

# Development key pair (kid "dev"): lets a fresh checkout and the tests run. Production configures its own.
DEV_KID = "dev"
DEV_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIMeCyH6g79uvnohR3/9mQInZWYcmN2qtQeMMv+0iGkXK
-----END PRIVATE KEY-----
"""
DEV_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA1uh8/lhkgvyT1f86d5E0IRNPdTgD76oS+I9GamanhJY=
-----END PUBLIC KEY-----
"""


class StaffClaims(BaseModel):
    """Who is calling. ``unit_path`` lists the unit's ancestors from the top down to the unit itself, so a
    service can tell "my unit or below" without reading the directory."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: str = Field(min_length=1, max_length=64, description="staff id")
    name: str = Field(default="", max_length=50)
    unit: str = Field(pattern=UNIT_CODE_PATTERN)
    role: StaffRole
    unit_path: tuple[str, ...] = ()
    mfa: bool = Field(default=False, description="second factor (TOTP) given at login")
    exp: int
    iat: int
    jti: str

    def may_act_on(self, unit_code: str, unit_path_of_target: Iterable[str] = ()) -> bool:
        """Own unit always; supervisors, leaders and admins also the units below theirs."""
        if unit_code == self.unit:
            return True
        below = self.unit in tuple(unit_path_of_target)
        return below and self.role in (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER)


class AuthError(Exception):
    pass


class TokenIssuer:
    def __init__(self, private_key_pem: str, kid: str) -> None:
        self._key = private_key_pem
        self.kid = kid

    def issue(
        self, *, staff_id: str, unit: str, role: StaffRole, unit_path: Iterable[str] = (), name: str = "",
        mfa: bool = False, ttl: timedelta = timedelta(minutes=30), now: datetime | None = None,
    ) -> str:
        now = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": staff_id, "name": name, "unit": unit, "role": role.value,
            "unit_path": list(unit_path), "mfa": mfa, "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()), "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    @classmethod
    def dev(cls) -> TokenIssuer:
        return cls(DEV_PRIVATE_KEY, DEV_KID)


class TokenVerifier:
    def __init__(self, public_keys: dict[str, str]) -> None:
        if not public_keys:
            raise ValueError("at least one public key is needed")
        self._keys = public_keys

    @classmethod
    def from_setting(cls, keys_json: str) -> TokenVerifier:
        """``YIMA_AUTH_PUBLIC_KEYS``: a JSON object {kid: PEM}; empty = the development key."""
        return cls(json.loads(keys_json) if keys_json.strip() else {DEV_KID: DEV_PUBLIC_KEY})

    def verify(self, token: str) -> StaffClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid or "")
            if key is None:
                raise AuthError("签名密钥未知，请重新登录")
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("登录已过期，请重新登录") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("身份凭证无效，请重新登录") from exc
        return StaffClaims.model_validate(claims)


def staff_auth(verifier: TokenVerifier) -> Callable[..., Any]:
    """A FastAPI dependency factory: ``Depends(require(StaffRole.DISPATCHER, ...))`` → StaffClaims or 401/403."""

    def require(*roles: StaffRole) -> Any:
        async def dependency(request: Request) -> StaffClaims:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise HTTPException(401, "需要工作人员登录", headers={"WWW-Authenticate": "Bearer"})
            try:
                claims = verifier.verify(token)
            except AuthError as exc:
                raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
            if roles and claims.role not in roles:
                raise HTTPException(403, "当前岗位无权进行此操作")
            return claims

        return Depends(dependency)

    return require



