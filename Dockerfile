# syntax=docker/dockerfile:1
#
# One image recipe for every yima service:
#
#   docker build --build-arg SERVICE=intake -t yima/intake:dev .
#
# SERVICE is one of intake, routing, risk, mediation, notify, insight, console (the yima_<SERVICE> package). The image runs
# `python -m yima_<SERVICE> serve --host 0.0.0.0`; pass another role as the command to run it apart:
#
#   docker run yima/routing:dev consume --host 0.0.0.0
#   docker run yima/routing:dev relay-outbox --host 0.0.0.0
#
# Settings come from the environment (YIMA_KAFKA_BOOTSTRAP, YIMA_MONGO_URL, YIMA_SM4_KEY_HEX, …; see
# libs/kit/src/yima_kit/settings.py and services/<name>/src/yima_<name>/config.py).

# Both stages must use the same Python: the virtual environment built in the first one points at the
# interpreter at /usr/local/bin/python3 and is copied unchanged into the second.
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.8

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv


# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG SERVICE
RUN test -n "${SERVICE}" \
    || { echo "build with --build-arg SERVICE=<intake|routing|risk|mediation|notify|insight|console>" >&2; exit 1; }

COPY --from=uv /uv /usr/local/bin/uv

# UV_COMPILE_BYTECODE: compile once here, the runtime filesystem may be read-only.
# UV_LINK_MODE=copy: the cache is a separate mount, hard links can't cross it.
# UV_PYTHON_DOWNLOADS=never: always the image's own interpreter, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# 1) Third-party dependencies only, in their own layer: rebuilt only when the lock file changes.
#    `--locked` checks uv.lock against the whole workspace, so every member's pyproject.toml must be here
#    (members: contracts, libs/kit, services/*, tools/devstack). A new service needs a line below.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY libs/kit/pyproject.toml libs/kit/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY services/intake/pyproject.toml services/intake/
COPY services/routing/pyproject.toml services/routing/
COPY services/risk/pyproject.toml services/risk/
COPY services/mediation/pyproject.toml services/mediation/
COPY services/notify/pyproject.toml services/notify/
COPY services/insight/pyproject.toml services/insight/
COPY services/console/pyproject.toml services/console/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package "yima-${SERVICE}"

# 2) The workspace packages this service is made of. --no-editable installs them into the venv as
#    ordinary wheels (package data such as yima_routing/data included), so the runtime stage needs the
#    venv only, not the source tree.
COPY contracts/ contracts/
COPY libs/kit/ libs/kit/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package "yima-${SERVICE}" \
    && /app/.venv/bin/python -c "import yima_${SERVICE}.cli"


# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE

# The CJK font every PDF (agreement, dispatch slip, reports) is drawn with (yima_kit.pdf): installed here, so
# no container fetches it on its first document.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid/gid: Kubernetes can only verify runAsNonRoot against a numeric USER.
RUN groupadd --system --gid 10001 yima \
    && useradd --system --uid 10001 --gid yima --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin yima \
    && mkdir -p /run/yima-keys && chown 10001:10001 /run/yima-keys && chmod 0750 /run/yima-keys
# ^ where docker-compose's keys job writes this deployment's keys (a new volume takes this owner)

# Owned by root and read-only for the service user: the code can't be changed by the process running it.
COPY --from=builder /app/.venv /app/.venv

ENV SERVICE=${SERVICE} \
    PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /app
USER 10001:10001

# Documentation only: each service listens on its own settings' http_port (intake 8000, routing 8001,
# risk 8002, mediation 8003, notify 8004, insight 8005, console 8006; YIMA_<NAME>_HTTP_PORT overrides). Every role answers /health.
EXPOSE 8000 8001 8002 8003 8004 8005 8006

# No curl in the slim image: ask /health with Python. The port is read from the service's own settings
# class, so it follows YIMA_<NAME>_HTTP_PORT. /health answers 503 (an error here) while Kafka or MongoDB
# is unreachable.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import importlib, os, urllib.request; s = os.environ['SERVICE']; config = importlib.import_module(f'yima_{s}.config'); port = getattr(config, s.capitalize() + 'Settings')().http_port; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]

# Exec form can't expand ${SERVICE}, so a tiny shell does, then `exec`s Python (PID 1 gets SIGTERM and
# shuts down cleanly). The role and its options are the CMD, so `docker run … consume --host 0.0.0.0`
# or a Kubernetes `args:` replace only them.
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"yima_${SERVICE}\" \"$@\"", "yima"]
CMD ["serve", "--host", "0.0.0.0"]
