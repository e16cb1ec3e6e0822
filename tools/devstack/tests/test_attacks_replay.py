"""The pure parts of ``yima-dev attacks`` (the replay of issue 14 against a running platform): its TOTP codes,
how it judges an answer, its output line, and the local keys ``./yima run`` signs staff tokens with."""

from __future__ import annotations

import json

import pyotp
import pytest
from yima_devstack.attacks import (
    Outcome,
    deployment_files_production,
    free_of,
    lockout_verdict,
    secret_of,
    throttle_verdict,
    totp_code,
)
from yima_devstack.platform import local_token_keys
from yima_kit.auth import DEV_KID, AuthError, TokenIssuer, TokenVerifier
from yima_kit.settings import KitSettings


def test_totp_codes_are_what_an_authenticator_shows() -> None:
    secret = pyotp.random_base32()
    for at in (0, 1_700_000_000, 1_765_000_029.9):
        assert totp_code(secret, at) == pyotp.TOTP(secret).at(at)
    uri = pyotp.TOTP(secret).provisioning_uri(name="410105001-01", issuer_name="yima 一码解纠纷")
    assert secret_of(uri) == secret


def test_a_burst_counts_as_refused_only_when_the_account_ends_locked() -> None:
    assert lockout_verdict([401] * 5 + [423] * 25, after=423)[0]
    assert not lockout_verdict([401] * 29 + [200], after=200)[0]  # the race of the issue: no lock
    assert not lockout_verdict([401] * 20 + [423] * 10, after=423)[0]  # locked, but 20 wrong were checked
    ok, evidence = throttle_verdict([404] * 5 + [429] * 15)
    assert ok and "5 checks evaluated" in evidence
    assert not throttle_verdict([404] * 19 + [200])[0]


def test_an_outcome_is_one_line_with_its_verdict() -> None:
    assert Outcome("1a", "forged case.status", True, "TopicAuthorizationFailedError").line() == (
        "[1a] refused      forged case.status — TopicAuthorizationFailedError")
    assert "NOT refused" in Outcome("2", "x", False, "200").line()
    assert "not replayed" in Outcome("7g", "x", None, "why").line()
    assert free_of("金水区人民法院 请拨打", "https://", "evil.example")
    assert not free_of('{"detail": "https://evil.example/pay"}', "evil.example")


def test_the_repository_deploys_in_production_mode() -> None:
    from pathlib import Path

    ok, evidence = deployment_files_production(Path(__file__).resolve().parents[3])
    assert ok, evidence


def test_yima_run_signs_with_keys_of_its_own_state_directory(tmp_path) -> None:
    env = local_token_keys(tmp_path / "keys", environ={})
    settings = KitSettings(secrets_dir=env["YIMA_SECRETS_DIR"])
    assert settings.auth_public_keys and DEV_KID not in json.loads(settings.auth_public_keys)
    assert settings.sm4_key_hex == ""  # stored data stays readable: only the token keys are its own
    verifier = TokenVerifier.from_setting(settings.auth_public_keys)
    assert not verifier.uses_dev_key()
    kept = (tmp_path / "keys" / "auth_public_keys").read_text()
    assert local_token_keys(tmp_path / "keys", environ={}) == env and (
        tmp_path / "keys" / "auth_public_keys").read_text() == kept  # generated once, then kept
    assert local_token_keys(tmp_path / "other", environ={"YIMA_AUTH_PUBLIC_KEYS": "{}"}) == {}  # given keys win
    forged = TokenIssuer.dev().issue(staff_id="410105-01", unit="410105", role=_admin(), mfa=True)
    with pytest.raises(AuthError):  # a token anyone can sign with the repository's key
        verifier.verify(forged)


def _admin():  # type: ignore[no-untyped-def]
    from yima_contracts.codes import StaffRole

    return StaffRole.ADMIN
