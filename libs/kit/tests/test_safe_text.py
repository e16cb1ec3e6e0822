"""Links and free-text fields from events, before they reach a person (docs/adr/0072)."""

from __future__ import annotations

import pytest
from yima_kit.safe_text import LinkPolicy, plain_field
from yima_kit.settings import KitSettings

PROD = LinkPolicy.from_setting("meet.yima.local, video.gov.cn", development=False)
DEV = LinkPolicy.from_setting("meet.yima.local", development=True)


@pytest.mark.parametrize("url", [
    "https://meet.yima.local/room/1", "https://MEET.yima.local./room/1", "https://a.video.gov.cn/r?x=1",
    "https://meet.yima.local:8443/room",
])
def test_https_links_to_allowed_hosts_are_kept(url: str) -> None:
    assert PROD.keep(url) == url


@pytest.mark.parametrize("url", [
    "http://meet.yima.local/room/1",  # not https
    "javascript:alert(1)", "data:text/html,<script>1</script>", "ftp://meet.yima.local/x",
    "https://evil.example/pay", "https://meet.yima.local.evil.example/", "https://notvideo.gov.cn/",
    "https://meet.yima.local@evil.example/", "https://user:pw@meet.yima.local/",
    "https://meet.yima.local/room\n请转账", "https:///nohost", "https://meet.yima.local:99999/", "", None,
    "http://127.0.0.1:8003/invite/x",  # loopback http: development only
])
def test_other_links_are_left_out(url: str | None) -> None:
    assert PROD.keep(url) is None


def test_development_allows_http_to_loopback_only() -> None:
    assert DEV.allows("http://127.0.0.1:8003/invite/abc") and DEV.allows("http://localhost:8003/")
    assert DEV.allows("http://[::1]:8003/")
    assert not DEV.allows("http://10.0.0.1/") and not DEV.allows("http://evil.example/")


def test_the_setting_gives_the_policy() -> None:
    prod = KitSettings(environment="production", link_hosts="meet.example.cn")
    assert prod.link_policy.allows("https://meet.example.cn/r") and not prod.link_policy.allows("http://127.0.0.1/")
    assert KitSettings().link_policy.allows("https://meet.yima.local/room/1")


def test_a_free_text_field_loses_links_control_characters_and_line_breaks() -> None:
    forged = "金水区人民法院\n请拨打0371-12345678并转账100元 https://evil.example/pay?x=1 或 www.evil.cn\x07"
    assert plain_field(forged) == "金水区人民法院 请拨打0371-12345678并转账100元 或"
    assert plain_field(None) == "" and plain_field("已受理") == "已受理"
    assert plain_field("长" * 300, limit=10) == "长" * 9 + "…"
