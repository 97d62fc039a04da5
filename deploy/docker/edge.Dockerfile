# PlantStream edge image: the gateway agent only (`pip install plantstream[edge]`).
# Lean on purpose: no numpy, numba or other server-side dependency (checked below).
# Build from the repository root:
#   docker build -f deploy/docker/edge.Dockerfile -t plantstream/edge:0.1.0 .
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/plantstream-edge
COPY requirements/edge.txt /tmp/requirements.txt
RUN /opt/plantstream-edge/bin/pip install --only-binary=:all: -r /tmp/requirements.txt
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY core core
COPY edge edge
# build tools pinned as in requirements/dev.txt (tests/packaging checks they agree)
RUN /opt/plantstream-edge/bin/pip install setuptools==84.2.1 wheel==0.48.0 \
 && /opt/plantstream-edge/bin/pip install --no-deps --no-build-isolation . \
 && /opt/plantstream-edge/bin/python -c "import importlib.util as u, sys; bad = [m for m in ('numpy', 'numba', 'influxdb_client', 'fastapi') if u.find_spec(m)]; sys.exit(f'server dependencies in the edge image: {bad}' if bad else 0)" \
 && /opt/plantstream-edge/bin/python -c "import plantstream.edge.agent"

FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="plantstream-edge" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10002 plantstream-edge \
 && useradd --system --uid 10002 --gid plantstream-edge --home-dir /var/lib/plantstream-edge \
      --create-home --shell /usr/sbin/nologin plantstream-edge
COPY --from=build /opt/plantstream-edge /opt/plantstream-edge
ENV PATH=/opt/plantstream-edge/bin:$PATH PYTHONUNBUFFERED=1
USER plantstream-edge
WORKDIR /var/lib/plantstream-edge
# The durable queue lives in the state directory: mount a volume there.
VOLUME ["/var/lib/plantstream-edge"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["plantstream", "edge", "check", "--config", "/etc/plantstream/edge.toml"]
ENTRYPOINT ["plantstream"]
CMD ["edge", "run", "--config", "/etc/plantstream/edge.toml"]
