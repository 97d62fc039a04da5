# PlantStream server image: ingest workers, rollup job, report API.
# Build from the repository root:
#   docker build -f deploy/docker/server.Dockerfile -t plantstream/server:0.1.0 .
# Dependencies come from the lock requirements/server.txt (every version pinned, made
# by `make lock`); the base image is pinned to an exact version.
# No secret is copied or baked in: configs and credentials are mounted at run time.
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/plantstream
COPY requirements/server.txt /tmp/requirements.txt
RUN /opt/plantstream/bin/pip install --only-binary=:all: -r /tmp/requirements.txt
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY core core
COPY store store
COPY edge edge
COPY ingest ingest
COPY analytics analytics
COPY rollups rollups
COPY reports reports
COPY dashboards dashboards
COPY ops ops
COPY i18n i18n
# build tools pinned as in requirements/dev.txt (tests/packaging checks they agree)
RUN /opt/plantstream/bin/pip install setuptools==84.2.1 wheel==0.48.0 \
 && /opt/plantstream/bin/pip install --no-deps --no-build-isolation . \
 && /opt/plantstream/bin/pip check

FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="plantstream-server" \
      org.opencontainers.image.source="https://example.invalid/plantstream" \
      org.opencontainers.image.licenses="Apache-2.0"
# the CJK TrueType font report PDFs in Chinese embed (plantstream.i18n.fonts; docs/i18n.md)
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-droid-fallback=1:6.0.1r16-1.1 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 plantstream \
 && useradd --system --uid 10001 --gid plantstream --home-dir /var/lib/plantstream \
      --create-home --shell /usr/sbin/nologin plantstream \
 && install -d -o plantstream -g plantstream -m 0700 /var/lib/plantstream-ingest
COPY --from=build /opt/plantstream /opt/plantstream
ENV PATH=/opt/plantstream/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/var/lib/plantstream/numba-cache
USER plantstream
WORKDIR /var/lib/plantstream
# Each service passes its own --config; compose/k8s override the health check per role.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["plantstream", "ingest", "check", "--config", "/etc/plantstream/ingest.toml"]
ENTRYPOINT ["plantstream"]
CMD ["--help"]
