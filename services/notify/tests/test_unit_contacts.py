"""Static unit contacts: a unit's own entry, or the "*" entry for every other unit ({unit} = its code)."""

from __future__ import annotations

import json
from typing import Any

from yima_kit.crypto import FieldCipher
from yima_notify.config import NotifySettings
from yima_notify.service import NotifyService


class _NoAdminOverride:
    async def unit_channels(self, *_: Any, **__: Any) -> None:
        return None


class _Repo:
    contacts = _NoAdminOverride()
    ledger = queue = lockout = None


async def test_the_star_entry_serves_every_unit_without_its_own() -> None:
    contacts = {"*": {"webhook_url": "http://127.0.0.1:8025/hooks/{unit}"}, "U1": {"email": "duty@u1.example"}}
    svc = NotifyService(_Repo(),  # type: ignore[arg-type]
                         FieldCipher.from_hex(""), NotifySettings(unit_contacts_json=json.dumps(contacts)))
    assert await svc.unit_contacts_of("410105001001") == {"webhook_url": "http://127.0.0.1:8025/hooks/410105001001"}
    assert await svc.unit_contacts_of("U1") == {"email": "duty@u1.example"}  # its own entry wins
    none = NotifyService(_Repo(),  # type: ignore[arg-type]
                         FieldCipher.from_hex(""), NotifySettings())
    assert await none.unit_contacts_of("U2") == {}


def test_a_unit_admin_may_point_the_webhook_only_at_allowed_https_hosts() -> None:
    from yima_notify.adapters.http import webhook_allowed

    allowed = ["hooks.zz.gov.cn", ".jinshui.gov.cn"]
    assert webhook_allowed("https://hooks.zz.gov.cn/yima", allowed)
    assert webhook_allowed("https://dept.jinshui.gov.cn/in", allowed)
    for url in ("http://hooks.zz.gov.cn/yima", "https://hooks.zz.gov.cn.evil.example/x", "https://jinshui.gov.cn/x",
                "https://evilhooks.zz.gov.cn/x", "https://hooks.zz.gov.cn:8443/x", "https://a@hooks.zz.gov.cn/",
                "https://10.0.0.1/", "ftp://hooks.zz.gov.cn/", "https://[::1]/"):
        assert not webhook_allowed(url, allowed), url
    assert not webhook_allowed("https://hooks.zz.gov.cn/yima", [])  # nothing allowed unless the operator says
