# syntax=docker/dockerfile:1
# The gateway agent image: `tryggheim edge run` for a home hub that runs containers (MQTT sensors through a
# broker on the host; Bluetooth needs the host's D-Bus socket mounted). The supported gateway install is still
# the systemd unit in deploy/gateway/ (docs/installer.md). Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t tryggheim-gateway .
# Base image pinned by tag and by the digest of its multi-architecture index (docs/operations.md).

# --- Python packages from the committed uv.lock into /opt/venv; uv exists in this stage only ------------
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3 AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN uv sync --frozen --no-dev --extra edge --no-install-project
COPY common ./common
COPY device_profiles ./device_profiles
COPY alerts ./alerts
COPY edge ./edge
COPY cloud ./cloud
COPY tryggheim ./tryggheim
RUN uv sync --frozen --no-dev --extra edge --no-editable

# --- runtime ------------------------------------------------------------------------------------------------
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3
RUN pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && groupadd --system --gid 10001 tryggheim \
    && useradd --system --uid 10001 --gid tryggheim --home-dir /etc/tryggheim --create-home \
       --shell /usr/sbin/nologin tryggheim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# The config and the outbox written by `tryggheim edge enrol`: mount a volume here so they survive upgrades.
VOLUME ["/etc/tryggheim"]
WORKDIR /etc/tryggheim
# The agent's own report (outbox depth, last upload); it fails when the config or outbox cannot be read.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["tryggheim", "edge", "status", "--config", "/etc/tryggheim/gateway.toml", "--json"]
ENTRYPOINT ["tryggheim"]
CMD ["edge", "run", "--config", "/etc/tryggheim/gateway.toml"]
