"""The first administrator of a new district (``yima-routing bootstrap-admin <staff id>``).

Every admin signs in with a TOTP code, and only a signed-in admin can enrol another one's TOTP: the first one
is set up here, by the operator, on the database directly. The command loads the directory seed if the
database has none, gives the district admin a random initial password (to be changed at first sign-in) and a
new TOTP secret, and prints both once — they are stored only hashed or encrypted. It refuses when a district
admin already has TOTP (an admin exists: they enrol the others) unless ``--reset`` (a lost phone), and it
leaves a record in routing's audit chain.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyotp
from yima_contracts.codes import StaffRole
from yima_kit.audit import AuditLog
from yima_kit.crypto import FieldCipher
from yima_kit.mongo import connect

from ..accounts import TOTP_CONTEXT, check_complexity, hash_password, normalise_staff_id
from ..config import RoutingSettings
from ..core.directory import Directory
from .mongo_accounts import MongoStaffAccounts
from .mongo_directory import DirectoryStore


class BootstrapRefused(Exception):
    pass


@dataclass(frozen=True)
class FirstAdmin:
    staff_id: str
    name: str
    unit: str
    password: str
    totp_secret: str
    otpauth_uri: str


def _password() -> str:
    alphabet = string.ascii_letters + string.digits + "#%+=@"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(16))
        if check_complexity(pw) is None and any(c in "#%+=@" for c in pw):
            return pw


async def bootstrap_admin(settings: RoutingSettings, staff_id: str, *, reset: bool = False) -> FirstAdmin:
    staff_id = normalise_staff_id(staff_id)
    client: Any = connect(settings.mongo_url)
    try:
        db = client[settings.db_name]
        store = DirectoryStore(db)
        await store.setup()
        await store.seed(Directory.load(settings.directory_file), None)  # no-op when already seeded
        directory = await store.load()
        person = directory.staff.get(staff_id)
        if person is None or person.role is not StaffRole.ADMIN or not person.active:
            raise BootstrapRefused(f"{staff_id} 不是在职的管理员")
        unit = directory.get(person.unit)
        if unit is None or unit.parent is not None:
            raise BootstrapRefused(f"{staff_id} 不是区级（最上级单位）管理员；其他管理员由区级管理员在系统中绑定")
        district_admins = [s.id for s in directory.staff_of(unit.code, StaffRole.ADMIN)]
        accounts = MongoStaffAccounts(db)
        enrolled = await accounts.totp_enrolled(district_admins)
        if enrolled and not reset:
            raise BootstrapRefused("已有区级管理员绑定了动态口令：请由其在系统中为他人绑定（丢失手机时用 --reset）")
        cipher = FieldCipher.from_hex(settings.sm4_key_hex)
        password, secret = _password(), pyotp.random_base32()
        await accounts.reset_credentials(staff_id, await hash_password(password),
                                         cipher.encrypt(secret, context=TOTP_CONTEXT))
        await accounts.revoke_all_of(staff_id, datetime.now(UTC))
        audit = AuditLog(db, cipher)
        await audit.setup()
        await audit.append_alone(client, actor="bootstrap", action="auth.bootstrap_admin", object_type="staff",
                                 object_id=staff_id, detail="reset" if reset else "first")
        return FirstAdmin(staff_id, person.name, unit.code, password, secret,
                          pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name="yima 一码解纠纷"))
    finally:
        await client.close()
