# Cairn's container image: one image for web, worker and beat (the command
# differs; see compose.yaml). Multi-stage: build tools stay in the first stage.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
RUN python -m venv /venv \
    && /venv/bin/pip install --upgrade pip \
    && /venv/bin/pip install .
COPY . .
# Hashed, compressed static files, served by WhiteNoise from the image.
RUN SECRET_KEY=collectstatic-only DEBUG=False WHITENOISE_USE_FINDERS=False \
    /venv/bin/python manage.py collectstatic --noinput --verbosity 0

FROM python:3.11-slim-bookworm AS runtime
# WeasyPrint's Pango and fonts for the PDF; curl for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 cairn
COPY --from=build /venv /venv
COPY --from=build --chown=cairn:cairn /app /app
WORKDIR /app
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DEBUG=False \
    CAIRN_BIND=0.0.0.0 \
    CAIRN_PORT=8000 \
    WHITENOISE_USE_FINDERS=False
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["curl", "-fsS", "http://127.0.0.1:8000/healthz"]
CMD ["gunicorn", "portal.wsgi:application", "--config", "portal/gunicorn.conf.py"]
