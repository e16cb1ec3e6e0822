import base64
import json
import logging

import pytest
from yima_kit.crypto import DecryptError, FieldCipher
from yima_kit.logging import configure_logging, get_logger, scrub_text


def test_sm4_round_trip_and_context_binding() -> None:
    c = FieldCipher.from_hex("00112233445566778899aabbccddeeff")
    token = c.encrypt("13812345678", context="cases.phone")
    assert "13812345678" not in token and token.startswith("sm4gcm:k1:")
    assert c.decrypt(token, context="cases.phone") == "13812345678"
    with pytest.raises(DecryptError):
        c.decrypt(token, context="cases.address")  # moved to another field: refused


def test_tampering_is_detected() -> None:
    c = FieldCipher.from_hex("00112233445566778899aabbccddeeff")
    token = c.encrypt("张三")
    head, blob = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(blob))
    raw[14] ^= 0x01  # one bit of the ciphertext
    with pytest.raises(DecryptError):
        c.decrypt(f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}")


def test_key_rotation_keeps_old_values_readable() -> None:
    old = FieldCipher({"k1": b"a" * 16}, "k1")
    token = old.encrypt("x")
    both = FieldCipher({"k1": b"a" * 16, "k2": b"b" * 16}, "k2")
    assert both.decrypt(token) == "x"
    assert both.encrypt("x").startswith("sm4gcm:k2:")


def test_blind_index_is_stable_and_keyed() -> None:
    a = FieldCipher.from_hex("00" * 16)
    b = FieldCipher.from_hex("11" * 16)
    assert a.blind_index("5678", context="x") == a.blind_index("5678", context="x")
    assert a.blind_index("5678", context="x") != b.blind_index("5678", context="x")


def test_logs_never_carry_phone_or_id_numbers(capsys) -> None:
    assert scrub_text("call 13812345678 id 11010519491231002X") == "call 138****5678 id 110***********002X"
    configure_logging("test", "INFO")
    get_logger().info("submitted by 13812345678", phone="13812345678", case_id="c1")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    rec = json.loads(line)
    assert "13812345678" not in line and rec["phone"] == "[redacted]" and rec["case_id"] == "c1"
    logging.getLogger().handlers.clear()


def test_pymongos_command_logs_stay_off_even_at_debug() -> None:
    """PyMongo logs whole commands at DEBUG (an outbox insert with its payload in clear): never, whatever the level."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)  # as a service run at DEBUG (or a test's caplog) has it
    configure_logging("t", "DEBUG")
    try:
        assert logging.getLogger("yima_kit.outbox").isEnabledFor(logging.DEBUG)  # our own logs follow the level
        assert not logging.getLogger("pymongo.command").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(before)
        configure_logging("t", "INFO")
