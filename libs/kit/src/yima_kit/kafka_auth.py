"""How a yima process authenticates to Kafka (docs/adr/0070-kafka-authentication-and-acls.md).

One description, :class:`KafkaAuth`, used by every client the platform opens: the FastStream broker of each
service (:meth:`KafkaAuth.faststream_security`) and every raw aiokafka producer, consumer and admin client
(:meth:`KafkaAuth.client_kwargs`). It comes from the service's settings (``YIMA_KAFKA_SECURITY_PROTOCOL``,
``YIMA_KAFKA_SASL_MECHANISM``, ``YIMA_KAFKA_SASL_USERNAME``, ``YIMA_KAFKA_SASL_PASSWORD``,
``YIMA_KAFKA_SSL_CAFILE``) or, for tools that only get a bootstrap address, from the same environment
variables (:meth:`KafkaAuth.from_env`).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")

ENV_PROTOCOL = "YIMA_KAFKA_SECURITY_PROTOCOL"
ENV_MECHANISM = "YIMA_KAFKA_SASL_MECHANISM"
ENV_USERNAME = "YIMA_KAFKA_SASL_USERNAME"
ENV_PASSWORD = "YIMA_KAFKA_SASL_PASSWORD"
ENV_CAFILE = "YIMA_KAFKA_SSL_CAFILE"


class KafkaAuthError(ValueError):
    """The Kafka security settings are inconsistent; the message says which variable to fix."""


@dataclass(frozen=True)
class KafkaAuth:
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    ssl_cafile: str = ""

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise KafkaAuthError(f"{ENV_PROTOCOL}={self.security_protocol!r}: must be one of {', '.join(PROTOCOLS)}")
        if self.sasl and self.sasl_mechanism not in MECHANISMS:
            raise KafkaAuthError(f"{ENV_MECHANISM}={self.sasl_mechanism!r}: must be one of {', '.join(MECHANISMS)}")
        if self.sasl and not (self.username and self.password):
            raise KafkaAuthError(f"{ENV_PROTOCOL}={self.security_protocol} needs {ENV_USERNAME} and {ENV_PASSWORD}")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaAuth:
        """From the ``YIMA_KAFKA_…`` variables (unset: PLAINTEXT, no credentials)."""
        env = os.environ if env is None else env
        return cls(
            security_protocol=env.get(ENV_PROTOCOL) or "PLAINTEXT",
            sasl_mechanism=env.get(ENV_MECHANISM) or "SCRAM-SHA-512",
            username=env.get(ENV_USERNAME, ""),
            password=env.get(ENV_PASSWORD, ""),
            ssl_cafile=env.get(ENV_CAFILE, ""),
        )

    @classmethod
    def scram(cls, username: str, password: str) -> KafkaAuth:
        """SASL/SCRAM-SHA-512 without TLS (the local stack, loopback only)."""
        return cls("SASL_PLAINTEXT", "SCRAM-SHA-512", username, password)

    def as_env(self) -> dict[str, str]:
        """The environment variables that give a child process these credentials."""
        env = {ENV_PROTOCOL: self.security_protocol}
        if self.sasl:
            env |= {ENV_MECHANISM: self.sasl_mechanism, ENV_USERNAME: self.username, ENV_PASSWORD: self.password}
        if self.ssl_cafile:
            env[ENV_CAFILE] = self.ssl_cafile
        return env

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        return ssl.create_default_context(cafile=self.ssl_cafile or None)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        if not self.sasl:
            return {}
        kwargs: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }
        if (context := self._ssl_context()) is not None:
            kwargs["ssl_context"] = context
        return kwargs

    def faststream_security(self) -> Any:
        """The ``security=`` argument of FastStream's KafkaBroker (None for PLAINTEXT)."""
        if not self.sasl:
            return None
        from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
        context = self._ssl_context()
        return kind[self.sasl_mechanism](
            username=self.username, password=self.password, ssl_context=context, use_ssl=context is not None
        )


def client_kwargs(auth: KafkaAuth | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments for ``auth``, or for the ``YIMA_KAFKA_…`` environment when None."""
    return (auth if auth is not None else KafkaAuth.from_env()).client_kwargs()
