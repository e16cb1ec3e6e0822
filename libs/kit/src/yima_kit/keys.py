"""Keys a deployment generates once, never the ones in this repository.

    python -m yima_kit.keys dir /run/yima-keys          # compose: files in a volume (idempotent)
    python -m yima_kit.keys k8s yima-token-verify yima-token-signing   # a Job: fills two Secrets (idempotent)

The files are named after the settings (``sm4_key_hex``, ``auth_public_keys``, ``auth_private_key``,
``auth_kid``) and read through ``YIMA_SECRETS_DIR`` (:class:`yima_kit.settings.KitSettings`). Nothing is
printed: the keys exist only where they are stored.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def generate() -> dict[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    kid = f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    return {"sm4_key_hex": secrets.token_hex(16), "auth_private_key": private,
            "auth_public_keys": json.dumps({kid: public}), "auth_kid": kid}


def write_dir(path: Path) -> bool:
    """Write the keys into ``path`` unless they are there already. True when written now."""
    path.mkdir(parents=True, exist_ok=True)
    if (path / "auth_public_keys").exists():
        return False
    for name, value in generate().items():
        target = path / name
        tmp = path / f".{name}.tmp"
        tmp.write_text(value)
        tmp.chmod(0o640)
        tmp.replace(target)
    return True


def fill_k8s_secrets(verify_secret: str, signing_secret: str) -> bool:  # pragma: no cover - needs a cluster
    """In a pod: fill the two (declared, empty) Secrets through the API server, once (stdlib only)."""
    import ssl
    import urllib.request

    sa = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    ns = (sa / "namespace").read_text().strip()
    base = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ.get('KUBERNETES_SERVICE_PORT', '443')}"
    token = (sa / "token").read_text().strip()
    tls = ssl.create_default_context(cafile=str(sa / "ca.crt"))
    url = f"{base}/api/v1/namespaces/{ns}/secrets"

    def call(method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
        req = urllib.request.Request(f"{url}/{path}", method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/merge-patch+json"})
        with urllib.request.urlopen(req, context=tls, timeout=20) as res:
            answer: dict[str, object] = json.loads(res.read() or b"{}")
            return answer

    current = call("GET", verify_secret).get("data") or {}
    if isinstance(current, dict) and current.get("YIMA_AUTH_PUBLIC_KEYS"):
        return False
    keys = generate()

    def b64(v: str) -> str:
        return base64.b64encode(v.encode()).decode()

    call("PATCH", signing_secret, {"data": {"YIMA_ROUTING_AUTH_PRIVATE_KEY": b64(keys["auth_private_key"]),
                                            "YIMA_ROUTING_AUTH_KID": b64(keys["auth_kid"])}})
    call("PATCH", verify_secret, {"data": {"YIMA_AUTH_PUBLIC_KEYS": b64(keys["auth_public_keys"])}})
    return True


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dir":
        written = write_dir(Path(argv[1]))
        print("keys: generated" if written else "keys: present, left as they are")
        return 0
    if len(argv) == 3 and argv[0] == "k8s":
        written = fill_k8s_secrets(argv[1], argv[2])
        print("keys: generated" if written else "keys: present, left as they are")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
