"""Installing the local servers' software, pinned and idempotent: Java and Maven (apt), the Kafka jars (Maven
Central, ``deploy/local/kafka/pom.xml``) and SecantusDB in a virtualenv of its own (it is GPL-licensed: a separate
dev/test process, never a dependency of our packages).

Cache layout (``cache_root()``, shared by every state directory)::

    kafka-<version>/libs/           the broker's jars; installed.json: versions and the pom's hash
    secantus-<version>/             the virtualenv; yima-installed.json: the requirement installed
    .install.lock                   serialises installs between processes
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .endpoints import InfraError
from .processes import LOG_TAIL_LINES

KAFKA_VERSION = "4.1.1"  # keep in step with deploy/local/kafka/pom.xml
SECANTUS_REQUIREMENT = "secantusdb==0.7.0b3"
SECANTUS_VERSION = SECANTUS_REQUIREMENT.split("==")[1]
APT_PACKAGES = {"java": "openjdk-17-jre-headless", "mvn": "maven"}


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "yima"


def find_deploy_dir() -> Path:
    """``deploy/local/kafka`` of the source tree this package runs from (or of the current directory)."""
    here = Path(__file__).resolve()
    for root in (*here.parents, Path.cwd(), *Path.cwd().parents):
        candidate = root / "deploy" / "local" / "kafka"
        if (candidate / "pom.xml").is_file():
            return candidate
    raise InfraError("deploy/local/kafka/pom.xml not found above this package or the current directory")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_step(cmd: Sequence[str | Path], *, what: str, cwd: Path | None = None) -> None:
    """Run an install step; on failure raise with its output (tools print no passwords given as arguments)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise InfraError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(output))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise installs between processes (e.g. two test sessions on a fresh machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def uv_command() -> list[str]:
    # `uv run` exports UV (its own path); otherwise uv is on PATH or importable (it is pip-installed here).
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return [candidate]
    with contextlib.suppress(ImportError):
        import uv  # noqa: F401

        return [sys.executable, "-m", "uv"]
    raise InfraError("uv not found (neither $UV, uv on PATH, nor `python -m uv`)")


class Installer:
    """The pinned software of the local servers under ``cache`` (default: ``cache_root()``)."""

    def __init__(self, cache: Path | None = None) -> None:
        cache = cache or cache_root()
        self.kafka_home = cache / f"kafka-{KAFKA_VERSION}"
        self.kafka_libs = self.kafka_home / "libs"
        self.secantus_venv = cache / f"secantus-{SECANTUS_VERSION}"
        self._install_lock = cache / ".install.lock"

    def installed(self) -> bool:
        return self.kafka_installed() and self.secantus_installed()

    def install(self) -> None:
        """Make Java, the Kafka jars and the SecantusDB virtualenv available. Idempotent and pinned:
        a second call only checks two marker files."""
        if self.installed():
            self.require_tool("java")
            return
        with file_lock(self._install_lock):
            self._install_kafka()
            self._install_secantus()

    def require_tool(self, tool: str) -> str:
        path = shutil.which(tool)
        if path is None:
            self.apt_install([APT_PACKAGES[tool]])
            path = shutil.which(tool)
        if path is None:
            raise InfraError(f"{tool} still not on PATH after installing {APT_PACKAGES[tool]}")
        return path

    @staticmethod
    def apt_install(packages: list[str]) -> None:
        if os.geteuid() != 0:
            wanted = " ".join(packages)
            raise InfraError(f"{wanted} missing and not root: run `apt-get install {wanted}` as root")
        run_step(["apt-get", "update"], what="apt-get update")
        run_step(["apt-get", "install", "-y", "--no-install-recommends", *packages], what="apt-get install")

    def _kafka_marker(self) -> Path:
        return self.kafka_home / "installed.json"

    def kafka_installed(self) -> bool:
        try:
            marker = json.loads(self._kafka_marker().read_text())
        except (OSError, ValueError):
            return False
        # A changed pom (e.g. a bumped binding) must trigger a fresh copy.
        if marker.get("pom_sha256") != sha256(find_deploy_dir() / "pom.xml"):
            return False
        return all((self.kafka_libs / jar).is_file() for jar in marker.get("jars", ()))

    def _install_kafka(self) -> None:
        if self.kafka_installed():
            return
        self.require_tool("java")
        mvn = self.require_tool("mvn")
        pom = find_deploy_dir() / "pom.xml"
        staging = self.kafka_home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        goal = "dependency:copy-dependencies"
        cmd: list[str | Path] = [mvn, "-q", "-B", "-f", pom, goal, f"-DoutputDirectory={staging}"]
        run_step(cmd, what=f"fetching Kafka {KAFKA_VERSION} jars with Maven")
        jars = sorted(p.name for p in staging.glob("*.jar"))
        if not any(j.startswith(f"kafka_2.13-{KAFKA_VERSION}") for j in jars):
            raise InfraError(f"Maven finished but kafka_2.13-{KAFKA_VERSION}.jar is not in {staging}")
        # Swap in the complete directory only now, so an interrupted install never looks finished.
        shutil.rmtree(self.kafka_libs, ignore_errors=True)
        staging.rename(self.kafka_libs)
        marker = {"kafka_version": KAFKA_VERSION, "pom_sha256": sha256(pom), "jars": jars}
        self._kafka_marker().write_text(json.dumps(marker, indent=2) + "\n")

    def _secantus_marker(self) -> Path:
        return self.secantus_venv / "yima-installed.json"

    def secantus_installed(self) -> bool:
        try:
            marker = json.loads(self._secantus_marker().read_text())
        except (OSError, ValueError):
            return False
        return marker.get("requirement") == SECANTUS_REQUIREMENT and self.secantus_bin().is_file()

    def secantus_bin(self) -> Path:
        return self.secantus_venv / "bin" / "secantusd-py"

    def _install_secantus(self) -> None:
        if self.secantus_installed():
            return
        uv = uv_command()
        shutil.rmtree(self.secantus_venv, ignore_errors=True)
        self.secantus_venv.parent.mkdir(parents=True, exist_ok=True)
        # sys.executable as the base interpreter: uv must never try to download a Python here.
        cwd = self.secantus_venv.parent  # outside any uv project, so no pyproject.toml is consulted
        run_step([*uv, "venv", "-q", "--python", sys.executable, str(self.secantus_venv)], what="uv venv", cwd=cwd)
        python = self.secantus_venv / "bin" / "python"
        install = [*uv, "pip", "install", "-q", "--python", str(python), SECANTUS_REQUIREMENT]
        run_step(install, what=f"installing {SECANTUS_REQUIREMENT}", cwd=cwd)
        self._secantus_marker().write_text(json.dumps({"requirement": SECANTUS_REQUIREMENT}) + "\n")
