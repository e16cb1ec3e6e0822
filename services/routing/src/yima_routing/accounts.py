"""Staff login (等保 2.0 level 3): argon2id passwords (off the event loop), lockouts decided by one atomic
increment per account and per source address, TOTP for administrators, sessions that logout, a password
change and a deactivation revoke, idle expiry, and signed tokens (Ed25519, ``yima_kit.auth.TokenIssuer``)
carrying unit, role, the unit path, the session id and the "must change password" mark.

Routing owns the directory, so it is the one service that issues tokens; every service verifies them with the
public key alone.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from yima_contracts import Actor, topics
from yima_contracts.codes import ActorKind, StaffRole
from yima_contracts.staff_events import StaffSessionRevoked
from yima_kit.auth import SessionRevocations, StaffClaims, TokenIssuer
from yima_kit.crypto import FieldCipher
from yima_kit.uow import Tx, UnitOfWork

from .core.directory import Directory
from .ports import StaffAccountRepository

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
_DUMMY = HASHER.hash("yima-timing-equaliser")
TOTP_CONTEXT = "staff.totp_secret"


class LoginError(Exception):
    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# Passwords published with the demo (README, seed settings) or that anyone would try first: never accepted as
# a new password, and a production start refuses accounts that still have the seeded one.
DEMO_PASSWORDS = frozenset({"yima#demo2026", "yima#demo2025", "yima#admin2026", "password123!", "admin@123456"})


def check_complexity(password: str) -> str | None:
    """等保: at least 10 characters from at least three of: lower, upper, digits, symbols. None = fine."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if len(password) < 10 or classes < 3:
        return "密码至少10位，且须包含大写字母、小写字母、数字、符号中的三类"
    if password.lower() in DEMO_PASSWORDS:
        return "该密码已公开（演示密码），不能使用"
    return None


def normalise_staff_id(raw: str) -> str:
    """Staff ids are compared in one form everywhere: the boundary normalises, nothing after it does."""
    return raw.strip().lower()


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    token_ttl: timedelta = timedelta(minutes=30)  # a token lives this long; the console refreshes while in use
    idle: timedelta = timedelta(minutes=30)  # a session not refreshed for this long is over
    session_max: timedelta = timedelta(hours=12)  # and none outlives a working day
    max_failures_per_source: int = 30  # failed logins from one address (any accounts) per window
    source_window: timedelta = timedelta(minutes=15)


# argon2id takes ~50 ms of CPU and 64 MiB: it runs in a small pool of its own, never on the event loop, and
# at most this many at once (the rest wait in the pool's queue, the service keeps answering).
_HASH_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, check)


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, HASHER.hash, password)


class Accounts:
    def __init__(self, repo: StaffAccountRepository, directory: Callable[[], Directory], issuer: TokenIssuer,
                 cipher: FieldCipher, policy: LoginPolicy = LoginPolicy(),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 revocations: SessionRevocations | None = None, uow: UnitOfWork | None = None) -> None:
        self.repo = repo
        self.directory = directory
        self.issuer = issuer
        self.cipher = cipher
        self.policy = policy
        self.now = clock
        self.revocations = revocations if revocations is not None else SessionRevocations()
        self._revocations_seen: datetime | None = None
        self.uow = uow  # revocations go out on staff.session_revoked through the outbox (ADR 0130)

    async def setup(self) -> None:
        await self.repo.setup()
        await self.load_revocations()

    # --- attempts: one atomic increment decides ------------------------------------------------------

    async def _take_account_attempt(self, staff_id: str, now: datetime) -> dict[str, Any] | None:
        """Count this attempt before checking the password (so parallel attempts cannot all pass the
        check first). Returns the account after the increment, or None when it is locked or unknown."""
        return await self.repo.take_account_attempt(staff_id, now)

    async def _take_source_attempt(self, source: str, now: datetime) -> int:
        attempts = await self.repo.take_source_attempt(source, now, self.policy.source_window)
        if attempts is None:
            raise LoginError("too_many_attempts", "登录服务繁忙，请稍后再试", 429)
        return attempts

    async def login(self, username: str, password: str, totp: str | None, source: str = "") -> dict[str, Any]:
        now = self.now()
        staff_id = normalise_staff_id(username)
        if source and await self._take_source_attempt(source, now) > self.policy.max_failures_per_source:
            raise LoginError("too_many_attempts", "该地址登录失败次数过多，请15分钟后再试", 429)
        doc = await self._take_account_attempt(staff_id, now)
        if doc is None:
            known = await self.repo.account(staff_id, ("locked_until", "active", "password_hash"))
            if known is not None and known.get("locked_until") and known["locked_until"] > now \
                    and known.get("active", True) and known.get("password_hash"):
                raise LoginError("locked", f"连续登录失败次数过多，账号已锁定至{_shanghai(known['locked_until'])}", 423)
            await verify_password(_DUMMY, password)  # same cost as a real check: no user enumeration by timing
            raise LoginError("invalid_credentials", "用户名或密码错误")
        if not doc.get("active", True) or not doc.get("password_hash"):
            await verify_password(_DUMMY, password)
            raise LoginError("invalid_credentials", "用户名或密码错误")
        attempt = int(doc.get("failed_logins") or 0)
        if attempt > self.policy.max_failures:
            # This attempt is one too many (the others may still be running): lock, check nothing.
            until = now + self.policy.lockout
            await self.repo.lock(staff_id, until)
            raise LoginError("locked", f"连续登录失败次数过多，账号已锁定至{_shanghai(until)}", 423)
        if not await verify_password(doc["password_hash"], password):
            raise LoginError("invalid_credentials", "用户名或密码错误")
        role = StaffRole(doc["role"])
        mfa = False
        if role is StaffRole.ADMIN:
            secret = self._totp_secret(doc)
            if secret is None:
                await self._release(staff_id, attempt)
                raise LoginError("mfa_not_enrolled", "管理员须先绑定动态口令（TOTP），请联系上级管理员", 403)
            if not totp:
                await self._release(staff_id, attempt)
                raise LoginError("mfa_required", "管理员登录须输入动态口令", 401)
            counter = _totp_counter(secret, totp)
            if counter is None:
                raise LoginError("invalid_totp", "动态口令错误", 401)  # the attempt stays counted
            if not await self.repo.use_totp_counter(staff_id, counter):  # good once: the counter only moves on
                raise LoginError("invalid_totp", "动态口令错误", 401)
            mfa = True
        await self._release(staff_id, attempt, success=True)
        if source:
            await self.repo.give_back_source_attempt(source)
        await self.repo.mark_login(staff_id, now)
        sid = await self._open_session(staff_id, now)
        must_change = bool(doc.get("must_change_password"))
        return self._token_answer(doc, sid, mfa, must_change)

    async def _release(self, staff_id: str, attempt: int, *, success: bool = False) -> None:
        """A right password: back to zero if nobody else counted meanwhile, else give back this one only
        (a wrong attempt running beside it still counts)."""
        if success and await self.repo.reset_failures(staff_id, attempt):
            return
        await self.repo.give_back_failure(staff_id)

    # --- sessions -----------------------------------------------------------------------------------

    async def _open_session(self, staff_id: str, now: datetime) -> str:
        sid = uuid.uuid4().hex
        await self.repo.open_session(sid, staff_id, now)
        return sid

    def _token_answer(self, doc: dict[str, Any], sid: str, mfa: bool, must_change: bool) -> dict[str, Any]:
        directory = self.directory()
        unit_path = directory.unit_path(doc["unit"]) or (doc["unit"],)
        role = StaffRole(doc["role"])
        token = self.issuer.issue(staff_id=doc["_id"], unit=doc["unit"], role=role, unit_path=unit_path,
                                  name=doc.get("name", ""), mfa=mfa and role is StaffRole.ADMIN,
                                  ttl=self.policy.token_ttl, sid=sid, pwc=must_change)
        unit = directory.get(doc["unit"])
        return {
            "access_token": token, "token_type": "bearer", "expires_in": int(self.policy.token_ttl.total_seconds()),
            "staff_id": doc["_id"], "name": doc.get("name", ""), "unit": doc["unit"],
            "unit_name": unit.name if unit else None, "role": role.value, "unit_path": list(unit_path),
            "must_change_password": must_change,
        }

    async def refresh(self, claims: StaffClaims) -> dict[str, Any]:
        """A fresh token for a session in use. Unit and role are read again (a transfer takes effect now);
        a session idle longer than the policy allows, older than a working day, or revoked is over."""
        now = self.now()
        doc = await self.repo.account(claims.sub)
        if doc is None or not doc.get("active", True):
            raise LoginError("inactive", "账号已停用", 401)
        live = await self.repo.touch_session(claims.sid, claims.sub, now, seen_after=now - self.policy.idle,
                                             created_after=now - self.policy.session_max) if claims.sid else False
        if not live:
            raise LoginError("session_expired", "登录已超时，请重新登录", 401)
        return self._token_answer(doc, claims.sid, claims.mfa, bool(doc.get("must_change_password")))

    async def revoke(self, query: dict[str, Any], reason: str = "other") -> int:
        """Revoke the sessions matching ``query``: their tokens are refused from now on — by this process at
        once, by every other (routing's replicas, the other services) when ``staff.session_revoked`` reaches
        them; the event is staged in the same transaction as the write (ADR 0130)."""
        now = self.now()
        until = _token_lifetime_end(self.policy)
        found: list[tuple[str, str]] = []

        async def work(tx: Tx | None) -> None:
            found[:] = await self.repo.revoke_sessions(query, now, tx.session if tx is not None else None)
            if tx is not None:
                for event in revocation_events(found, reason, until):
                    tx.emit(topics.STAFF_SESSION_REVOKED, event)

        if self.uow is not None:
            await self.uow.run(work)
        else:  # no outbox (a tool): this process alone refuses them
            await work(None)
        for sid, _ in found:
            self.revocations.revoke(sid, until)
        return len(found)

    async def logout(self, claims: StaffClaims) -> None:
        if claims.sid:
            await self.revoke({"_id": claims.sid, "staff_id": claims.sub}, "logout")

    async def revoke_staff(self, staff_id: str, reason: str = "account_changed") -> int:
        return await self.revoke({"staff_id": staff_id}, reason)

    async def load_revocations(self) -> int:
        """Sessions revoked while tokens of theirs may still be alive: the in-memory set every request checks
        (other replicas revoke too; this picks theirs up)."""
        now = self.now()
        since = now - self.policy.token_ttl
        if self._revocations_seen is not None:
            since = max(since, self._revocations_seen - timedelta(seconds=5))
        n = 0
        for sid in await self.repo.revoked_since(since):
            self.revocations.revoke(sid, _token_lifetime_end(self.policy))
            n += 1
        self._revocations_seen = now
        return n

    # --- passwords and TOTP -------------------------------------------------------------------------

    def _totp_secret(self, doc: dict[str, Any]) -> str | None:
        enc = doc.get("totp_secret")
        return self.cipher.decrypt(enc, context=TOTP_CONTEXT) if enc else None

    async def set_password(self, staff_id: str, password: str, *, must_change: bool) -> None:
        await self.repo.set_password_hash(staff_id, await hash_password(password), must_change)
        await self.revoke_staff(staff_id, "password_changed")  # a new password ends every session of the old one

    async def change_password(self, claims: StaffClaims, current: str, new: str) -> dict[str, Any]:
        """The holder's own change (the first login's too): every other session ends, and the answer is a
        new token for a new session without the "must change" mark."""
        doc = await self.repo.account(claims.sub)
        if doc is None or not await verify_password(doc.get("password_hash") or _DUMMY, current):
            raise LoginError("invalid_credentials", "原密码错误")
        if (msg := check_complexity(new)) is not None:
            raise LoginError("weak_password", msg, 422)
        if new == current:
            raise LoginError("same_password", "新密码不能与原密码相同", 422)
        await self.set_password(claims.sub, new, must_change=False)
        doc["must_change_password"] = False
        sid = await self._open_session(claims.sub, self.now())
        return {"changed": True, **self._token_answer(doc, sid, claims.mfa, False)}

    async def enrol_totp(self, staff_id: str) -> str:
        """A new TOTP secret for the staff member; returns the otpauth:// URI for the authenticator app."""
        secret = pyotp.random_base32()
        await self.repo.set_totp_secret(staff_id, self.cipher.encrypt(secret, context=TOTP_CONTEXT))
        return pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name="yima 一码解纠纷")

    async def seeded_password_accounts(self) -> int:
        """Active accounts that still have the seeded (published) password."""
        return await self.repo.seeded_password_count()


def revocation_events(sessions: list[tuple[str, str]], reason: str, until: float) -> list[StaffSessionRevoked]:
    """``staff.session_revoked`` for revoked (session id, staff id): one event per staff member (its partition
    key) and at most 1000 ids each."""
    by_staff: dict[str, list[str]] = {}
    for sid, staff_id in sessions:
        by_staff.setdefault(staff_id, []).append(sid)
    valid_until = datetime.fromtimestamp(until, UTC)
    return [
        StaffSessionRevoked(case_id=staff_id, correlation_id=sids[i], staff_id=staff_id,
                            session_ids=sids[i:i + 1000], reason=reason,  # type: ignore[arg-type]
                            valid_until=valid_until, actor=Actor(kind=ActorKind.SYSTEM, service="routing"))
        for staff_id, sids in by_staff.items() for i in range(0, len(sids), 1000)
    ]


def _token_lifetime_end(policy: LoginPolicy) -> float:
    """Until when a token issued now could be presented (tokens carry real time, whatever the clock)."""
    return (datetime.now(UTC) + policy.token_ttl).timestamp() + 60


def _totp_counter(secret: str, code: str) -> int | None:
    """The time step a TOTP code belongs to (real time, one step of drift either way), or None."""
    totp = pyotp.TOTP(secret)
    now = datetime.now(UTC)
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=30 * drift)
        if hmac.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


def _shanghai(t: datetime) -> str:
    from zoneinfo import ZoneInfo

    return t.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
