"""Staff login (等保 2.0 level 3): argon2id passwords, lockout after repeated failures, TOTP for administrators,
and signed tokens (Ed25519, ``yima_kit.auth.TokenIssuer``) carrying unit, role and the unit path.

Routing owns the directory, so it is the one service that issues tokens; every service verifies them with the
public key alone.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts.codes import StaffRole
from yima_kit.auth import TokenIssuer
from yima_kit.crypto import FieldCipher

from .core.directory import Directory

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
_DUMMY = HASHER.hash("yima-timing-equaliser")
TOTP_CONTEXT = "staff.totp_secret"


class LoginError(Exception):
    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def check_complexity(password: str) -> str | None:
    """等保: at least 10 characters from at least three of: lower, upper, digits, symbols. None = fine."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if len(password) < 10 or classes < 3:
        return "密码至少10位，且须包含大写字母、小写字母、数字、符号中的三类"
    return None


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    token_ttl: timedelta = timedelta(minutes=30)  # idle sessions expire: the console refreshes while in use


class Accounts:
    def __init__(self, db: AsyncDatabase[Any], directory: Callable[[], Directory], issuer: TokenIssuer,
                 cipher: FieldCipher, policy: LoginPolicy = LoginPolicy(),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.staff = db["staff"]
        self.directory = directory
        self.issuer = issuer
        self.cipher = cipher
        self.policy = policy
        self.now = clock

    async def login(self, username: str, password: str, totp: str | None) -> dict[str, Any]:
        now = self.now()
        doc = await self.staff.find_one({"_id": username.strip().lower()})
        if doc is None or not doc.get("active", True) or not doc.get("password_hash"):
            _burn(password)  # same cost as a real check: no user enumeration by timing
            raise LoginError("invalid_credentials", "用户名或密码错误")
        locked_until = doc.get("locked_until")
        if locked_until and locked_until > now:
            raise LoginError("locked", f"连续登录失败次数过多，账号已锁定至{_shanghai(locked_until)}", 423)
        try:
            HASHER.verify(doc["password_hash"], password)
        except (VerificationError, InvalidHashError):
            await self._failed(doc, now)
            raise LoginError("invalid_credentials", "用户名或密码错误") from None
        role = StaffRole(doc["role"])
        mfa = False
        if role is StaffRole.ADMIN:
            secret = self._totp_secret(doc)
            if secret is None:
                raise LoginError("mfa_not_enrolled", "管理员须先绑定动态口令（TOTP），请联系上级管理员", 403)
            if not totp:
                raise LoginError("mfa_required", "管理员登录须输入动态口令", 401)
            counter = _totp_counter(secret, totp)
            if counter is None or counter <= int(doc.get("totp_last_counter") or -1):
                await self._failed(doc, now)  # wrong, or replayed (a code is good once)
                raise LoginError("invalid_totp", "动态口令错误", 401)
            await self.staff.update_one({"_id": doc["_id"]}, {"$set": {"totp_last_counter": counter}})
            mfa = True
        await self.staff.update_one({"_id": doc["_id"]}, {"$set": {"failed_logins": 0, "locked_until": None,
                                                                  "last_login_at": now}})
        directory = self.directory()
        unit_path = directory.unit_path(doc["unit"]) or (doc["unit"],)
        token = self.issuer.issue(staff_id=doc["_id"], unit=doc["unit"], role=role, unit_path=unit_path,
                                  name=doc.get("name", ""), mfa=mfa, ttl=self.policy.token_ttl)
        unit = directory.get(doc["unit"])
        return {
            "access_token": token, "token_type": "bearer", "expires_in": int(self.policy.token_ttl.total_seconds()),
            "staff_id": doc["_id"], "name": doc.get("name", ""), "unit": doc["unit"],
            "unit_name": unit.name if unit else None, "role": role.value, "unit_path": list(unit_path),
            "must_change_password": bool(doc.get("must_change_password")),
        }

    async def refresh(self, staff_id: str, mfa: bool) -> dict[str, Any]:
        """A fresh token for a session in use (idle sessions expire with their token). Unit and role are read
        again, so a transfer or a deactivation takes effect at the next refresh."""
        doc = await self.staff.find_one({"_id": staff_id})
        if doc is None or not doc.get("active", True):
            raise LoginError("inactive", "账号已停用", 401)
        directory = self.directory()
        unit_path = directory.unit_path(doc["unit"]) or (doc["unit"],)
        role = StaffRole(doc["role"])
        token = self.issuer.issue(staff_id=doc["_id"], unit=doc["unit"], role=role, unit_path=unit_path,
                                  name=doc.get("name", ""), mfa=mfa and role is StaffRole.ADMIN,
                                  ttl=self.policy.token_ttl)
        return {"access_token": token, "token_type": "bearer", "expires_in": int(self.policy.token_ttl.total_seconds()),
                "unit": doc["unit"], "role": role.value, "unit_path": list(unit_path)}

    async def _failed(self, doc: dict[str, Any], now: datetime) -> None:
        failures = int(doc.get("failed_logins") or 0) + 1
        update: dict[str, Any] = {"failed_logins": failures, "last_failure_at": now}
        if failures >= self.policy.max_failures:
            update["locked_until"] = now + self.policy.lockout
            update["failed_logins"] = 0
        await self.staff.update_one({"_id": doc["_id"]}, {"$set": update})

    def _totp_secret(self, doc: dict[str, Any]) -> str | None:
        enc = doc.get("totp_secret")
        return self.cipher.decrypt(enc, context=TOTP_CONTEXT) if enc else None

    async def set_password(self, staff_id: str, password: str, *, must_change: bool) -> None:
        await self.staff.update_one({"_id": staff_id}, {"$set": {
            "password_hash": HASHER.hash(password), "must_change_password": must_change,
            "failed_logins": 0, "locked_until": None}})

    async def change_password(self, staff_id: str, old: str, new: str) -> None:
        doc = await self.staff.find_one({"_id": staff_id})
        try:
            HASHER.verify((doc or {}).get("password_hash") or _DUMMY, old)
        except (VerificationError, InvalidHashError):
            raise LoginError("invalid_credentials", "原密码错误") from None
        if (msg := check_complexity(new)) is not None:
            raise LoginError("weak_password", msg, 422)
        await self.set_password(staff_id, new, must_change=False)

    async def enrol_totp(self, staff_id: str) -> str:
        """A new TOTP secret for the staff member; returns the otpauth:// URI for the authenticator app."""
        secret = pyotp.random_base32()
        await self.staff.update_one({"_id": staff_id}, {"$set": {
            "totp_secret": self.cipher.encrypt(secret, context=TOTP_CONTEXT)}})
        return pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name="yima 一码解纠纷")


def _totp_counter(secret: str, code: str) -> int | None:
    """The time step a TOTP code belongs to (real time, one step of drift either way), or None."""
    totp = pyotp.TOTP(secret)
    now = datetime.now(UTC)
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=30 * drift)
        if hmac.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


def _burn(password: str) -> None:
    try:
        HASHER.verify(_DUMMY, password)
    except (VerificationError, InvalidHashError):
        pass


def _shanghai(t: datetime) -> str:
    from zoneinfo import ZoneInfo

    return t.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
