import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from yima_contracts.codes import StaffRole
from yima_kit.auth import DEV_PUBLIC_KEY, AuthError, TokenIssuer, TokenVerifier


def test_issued_token_verifies_and_carries_unit_and_role() -> None:
    token = TokenIssuer.dev().issue(staff_id="s1", unit="410105001001", role=StaffRole.DISPATCHER,
                                    unit_path=["410105", "410105001", "410105001001"])
    claims = TokenVerifier.from_setting("").verify(token)
    assert (claims.sub, claims.unit, claims.role) == ("s1", "410105001001", StaffRole.DISPATCHER)


def test_expired_and_forged_tokens_are_refused() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    old = TokenIssuer.dev().issue(staff_id="s1", unit="u1", role=StaffRole.ADMIN, now=past)
    with pytest.raises(AuthError, match="过期"):
        TokenVerifier.from_setting("").verify(old)
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    forged = TokenIssuer(other, "dev").issue(staff_id="s1", unit="u1", role=StaffRole.ADMIN)
    with pytest.raises(AuthError):
        TokenVerifier.from_setting("").verify(forged)


def test_keys_rotate_by_kid() -> None:
    new_key = Ed25519PrivateKey.generate()
    pem = new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    pub = new_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    verifier = TokenVerifier({"dev": DEV_PUBLIC_KEY, "k2026": pub})
    assert verifier.verify(TokenIssuer(pem, "k2026").issue(staff_id="a", unit="u", role=StaffRole.ADMIN)).sub == "a"
    assert verifier.verify(TokenIssuer.dev().issue(staff_id="b", unit="u", role=StaffRole.ADMIN)).sub == "b"


def test_unit_scope() -> None:
    t = TokenIssuer.dev().issue(staff_id="s", unit="410105001", role=StaffRole.LEADER)
    c = TokenVerifier.from_setting("").verify(t)
    assert c.may_act_on("410105001")
    assert c.may_act_on("410105001001", ["410105", "410105001", "410105001001"])
    assert not c.may_act_on("410105002001", ["410105", "410105002", "410105002001"])
    mediator = TokenVerifier.from_setting("").verify(
        TokenIssuer.dev().issue(staff_id="m", unit="410105001", role=StaffRole.MEDIATOR))
    assert not mediator.may_act_on("410105001001", ["410105", "410105001", "410105001001"])


def test_production_refuses_the_development_keys() -> None:
    from yima_kit.runtime import Runtime
    from yima_kit.settings import KitSettings

    with pytest.raises(RuntimeError, match="refusing to start"):
        Runtime.create(KitSettings(service_name="risk", environment="production"))
    dev_keys = json.dumps({"k2026": DEV_PUBLIC_KEY})  # the repository's key under another name: still refused
    with pytest.raises(RuntimeError, match="development token key"):
        Runtime.create(KitSettings(service_name="risk", environment="production", sm4_key_hex="00" * 16,
                                   auth_public_keys=dev_keys))
    own = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    rt = Runtime.create(KitSettings(service_name="risk", environment="production", sm4_key_hex="00" * 16,
                                    auth_public_keys=json.dumps({"k2026": own})))
    assert rt.settings.environment == "production"
