# Snapshot service image: the Tornado frontend plus Chromium + ChromeDriver for localmode captures.
# Build:  scripts/build-image.sh            (podman or docker; --debian-base builds the base from Debian
#                                           packages with mmdebstrap, for air-gapped sites)
# Run:    podman run -p 8080:8080 snapshot
#
# BASE is any Debian 12 image with python3 and python3-venv: the official Python image by default.
# EXTRA_CA_CERTS (PEM text) is trusted during the build only (a TLS-intercepting proxy); the final
# image does not keep it.
ARG BASE=python:3.11-slim-bookworm

# ---- build stage: wheels for the package and its dependencies
FROM ${BASE} AS build
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt \
    && update-ca-certificates >/dev/null; fi
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels .
# Playwright's device registry (the `device` option): its own JSON file from npm playwright-core, never a
# table of ours; without the npm registry the image builds all the same (then `device` answers 400)
ARG PLAYWRIGHT_CORE_VERSION=1.50.0
COPY scripts/fetch_devices.py ./
RUN mkdir -p /devices && { python3 fetch_devices.py "$PLAYWRIGHT_CORE_VERSION" /devices \
 || echo "warning: no device registry (npm playwright-core $PLAYWRIGHT_CORE_VERSION not reachable)"; }

# ---- runtime stage: same Python, no compilers, no build-time certificates
FROM ${BASE}
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt \
    && update-ca-certificates >/dev/null; fi \
 && apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-driver ca-certificates fonts-liberation \
    webext-ublock-origin-chromium ghostscript \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* \
 && rm -f /usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates --fresh >/dev/null
COPY --from=build /wheels /wheels
COPY --from=build /devices /opt/snapshot-devices
RUN python3 -m venv /opt/snapshot \
 && /opt/snapshot/bin/pip install --no-cache-dir --no-index --find-links /wheels snapshot-service \
 && rm -rf /wheels \
 && find /opt/snapshot -name '*.pyc' -delete \
 && /opt/snapshot/bin/python -c "import service.app, selenium, tornado, boto3, prometheus_client; print('import ok')" \
 && chromedriver --version
RUN groupadd --gid 10001 snapshot && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home snapshot
USER 10001:10001
WORKDIR /tmp
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    SNAPSHOT_PORT=8080 \
    SNAPSHOT_LOCAL_STORAGE_DIR=/tmp/snapshots \
    SNAPSHOT_DEVICES_FILE=/opt/snapshot-devices/deviceDescriptorsSource.json
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/opt/snapshot/bin/python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('SNAPSHOT_PORT', '8080'); sys.exit(urllib.request.urlopen(url, timeout=4).status != 200)"]
# exec form: python is PID 1 and receives SIGTERM itself (graceful shutdown)
ENTRYPOINT ["/opt/snapshot/bin/python", "-m", "service"]
