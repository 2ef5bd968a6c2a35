# syntax=docker/dockerfile:1
# The cloud service image: `tryggheim cloud serve` (the default command) and `tryggheim db upgrade` (the
# migration job runs the same image). Build from the repository root:
#   docker build -f deploy/docker/cloud.Dockerfile -t tryggheim-cloud .
# Base images are pinned by tag and by the digest of their multi-architecture index; docs/operations.md,
# "Deploying the cloud service", says where the digests come from and how to refresh them.

# --- the pages' browser packages, from npm by the committed package-lock.json (as `make web-assets`) -----
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS web
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
    && mkdir -p vendor \
    && cp node_modules/htmx.org/dist/htmx.min.js node_modules/uplot/dist/uPlot.iife.min.js \
       node_modules/uplot/dist/uPlot.min.css vendor/

# --- Python packages from the committed uv.lock into /opt/venv; uv exists in this stage only ------------
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3 AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The same uv as the Makefile's UV_VERSION, from PyPI.
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first (a layer that changes only with the lock), then the project itself, not editable.
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN uv sync --frozen --no-dev --extra cloud --no-install-project
COPY common ./common
COPY device_profiles ./device_profiles
COPY alerts ./alerts
COPY edge ./edge
COPY cloud ./cloud
COPY tryggheim ./tryggheim
RUN uv sync --frozen --no-dev --extra cloud --no-editable
# The vendor folder is git-ignored, so the wheel leaves it out; it goes where cloud/web/assets.py reads it.
COPY --from=web /src/vendor /opt/venv/lib/python3.11/site-packages/cloud/web/static/vendor

# --- runtime: the interpreter, the virtual environment and nothing that builds -----------------------------
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3
# pg_dump and pg_restore for `tryggheim admin backup` and `restore` (cloud/db/backup.py): Debian's client
# package only, no server and nothing that builds. They are PostgreSQL 15's: a newer server needs a backup
# taken with its own tools (docs/operations.md, "Backup and restore"). The base image's pip and setuptools are
# not needed at run time.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends 'postgresql-client-15=15.*' \
    && rm -rf /var/lib/apt/lists/* \
    && pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && groupadd --system --gid 10001 tryggheim \
    && useradd --system --uid 10001 --gid tryggheim --home-dir /var/lib/tryggheim --create-home \
       --shell /usr/sbin/nologin tryggheim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRYGGHEIM_HOST=0.0.0.0 \
    TRYGGHEIM_PORT=8080 \
    TRYGGHEIM_ENV=production \
    TRYGGHEIM_STATE_DIR=/var/lib/tryggheim
USER 10001:10001
WORKDIR /var/lib/tryggheim
EXPOSE 8080
# Liveness only (the process answers); readiness (database and schema) is /readyz, which orchestrators probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TRYGGHEIM_PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["tryggheim"]
CMD ["cloud", "serve"]
