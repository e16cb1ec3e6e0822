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
    sid: str = Field(default="", max_length=64, description="session id: logout, a password change and a "
                     "deactivation revoke the session, and with it every token that carries its id")
    pwc: bool = Field(default=False, description="password change required (first login, or after a reset): "
                      "every staff endpoint but the password change answers 403 password_change_required")
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
    code = "unauthenticated"


class PasswordChangeRequired(AuthError):
    """The token is genuine, but its holder must change the initial password before anything else."""

    code = "password_change_required"


class SessionRevoked(AuthError):
    code = "session_revoked"


PASSWORD_CHANGE_REQUIRED_ZH = "首次登录或密码被重置后须先修改密码，然后才能办理其他业务"


class SessionRevocations:
    """Session ids revoked before their tokens expire (logout, password change, deactivation), in memory:
    a request costs one dictionary lookup. Each entry is dropped once every token of the session has
    expired (``until``), so the set stays as small as the sessions revoked within one token lifetime."""

    def __init__(self, clock: Callable[[], float] = lambda: datetime.now(UTC).timestamp()) -> None:
        self._until: dict[str, float] = {}
        self._now = clock
        self._next_sweep = 1024

    def revoke(self, sid: str, until: float) -> None:
        now = self._now()
        if sid and until > now:
            self._until[sid] = max(until, self._until.get(sid, 0.0))
            if len(self._until) >= self._next_sweep:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Forget the ids whose tokens have all expired (a lookup forgets only the ids it meets)."""
        for sid in [s for s, until in self._until.items() if until <= now]:
            del self._until[sid]
        self._next_sweep = max(1024, 2 * len(self._until))

    def is_revoked(self, sid: str) -> bool:
        until = self._until.get(sid)
        if until is None:
            return False
        if until <= self._now():
            self._until.pop(sid, None)
            return False
        return True

    def __len__(self) -> int:
        return len(self._until)


class TokenIssuer:
    def __init__(self, private_key_pem: str, kid: str) -> None:
        self._key = private_key_pem
        self.kid = kid

    def issue(
        self, *, staff_id: str, unit: str, role: StaffRole, unit_path: Iterable[str] = (), name: str = "",
        mfa: bool = False, ttl: timedelta = timedelta(minutes=30), now: datetime | None = None,
        sid: str = "", pwc: bool = False,
    ) -> str:
        now = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": staff_id, "name": name, "unit": unit, "role": role.value,
            "unit_path": list(unit_path), "mfa": mfa, "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()), "jti": uuid.uuid4().hex,
        }
        if sid:
            claims["sid"] = sid
        if pwc:
            claims["pwc"] = True
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    @classmethod
    def dev(cls) -> TokenIssuer:
        return cls(DEV_PRIVATE_KEY, DEV_KID)


class TokenVerifier:
    def __init__(self, public_keys: dict[str, str]) -> None:
        if not public_keys:
            raise ValueError("at least one public key is needed")
        self._keys = public_keys
        self.revocations: SessionRevocations | None = None

    @classmethod
    def from_setting(cls, keys_json: str, revocations: SessionRevocations | None = None) -> TokenVerifier:
        """``YIMA_AUTH_PUBLIC_KEYS``: a JSON object {kid: PEM}; empty = the development key."""
        v = cls(json.loads(keys_json) if keys_json.strip() else {DEV_KID: DEV_PUBLIC_KEY})
        v.revocations = revocations
        return v

    def uses_dev_key(self) -> bool:
        """True when the development key (public in this repository) would verify tokens."""
        return DEV_KID in self._keys or any(k.strip() == DEV_PUBLIC_KEY.strip() for k in self._keys.values())

    def verify(self, token: str, *, password_change_ok: bool = False) -> StaffClaims:
        """The token's claims, or :class:`AuthError` (bad, expired, revoked; :class:`PasswordChangeRequired`
        for a holder who must change the password first, unless ``password_change_ok``)."""
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
        try:
            staff = StaffClaims.model_validate(claims)
        except ValueError as exc:
            raise AuthError("身份凭证无效，请重新登录") from exc
        if self.revocations is not None and staff.sid and self.revocations.is_revoked(staff.sid):
            raise SessionRevoked("登录已失效（已退出、密码已修改或账号已停用），请重新登录")
        if staff.pwc and not password_change_ok:
            raise PasswordChangeRequired(PASSWORD_CHANGE_REQUIRED_ZH)
        return staff


class StaffRefused(HTTPException):
    """401/403 of the staff dependency, with a machine-readable ``code`` for the shared error shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.code = code


def staff_auth(verifier: TokenVerifier) -> Callable[..., Any]:
    """A FastAPI dependency factory: ``Depends(require(StaffRole.DISPATCHER, ...))`` → StaffClaims or 401/403.

    A holder who must change the initial password gets 403 ``password_change_required`` everywhere but on
    dependencies made with ``password_change_ok=True`` (the password change itself, logout)."""

    def require(*roles: StaffRole, password_change_ok: bool = False) -> Any:
        async def dependency(request: Request) -> StaffClaims:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise StaffRefused(401, "unauthenticated", "需要工作人员登录", {"WWW-Authenticate": "Bearer"})
            try:
                claims = verifier.verify(token, password_change_ok=password_change_ok)
            except PasswordChangeRequired as exc:
                raise StaffRefused(403, exc.code, str(exc)) from exc
            except AuthError as exc:
                raise StaffRefused(401, exc.code, str(exc), {"WWW-Authenticate": "Bearer"}) from exc
            request.state.staff = claims
            if roles and claims.role not in roles:
                raise StaffRefused(403, "role_not_allowed", "当前岗位无权进行此操作")
            return claims

        return Depends(dependency)

    return require



