# Snapshot service image: the Tornado frontend plus Chromium + ChromeDriver for localmode captures.
# Build:  docker build -t snapshot .
# Run:    docker run -p 8080:8080 snapshot

# ---- build stage: wheels for the package and its dependencies
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- runtime stage: same Python, no compilers
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-driver ca-certificates fonts-liberation \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels snapshot-service \
 && rm -rf /wheels \
 && python -c "import service.app, selenium, tornado, boto3, prometheus_client; print('import ok')" \
 && chromedriver --version
RUN groupadd --gid 10001 snapshot && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home snapshot
USER 10001:10001
WORKDIR /tmp
ENV PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SNAPSHOT_PORT=8080 \
    SNAPSHOT_LOCAL_STORAGE_DIR=/tmp/snapshots
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('SNAPSHOT_PORT', '8080'); sys.exit(urllib.request.urlopen(url, timeout=4).status != 200)"]
# exec form: python is PID 1 and receives SIGTERM itself (graceful shutdown)
ENTRYPOINT ["python", "-m", "service"]
