# chatsite: one Daphne process serving HTTP and WebSocket on port 8000.
# Build:   docker build -t chatsite .
# Migrate: docker run --rm -v chatsite-data:/data chatsite python manage.py migrate --noinput
# Run:     docker run -d -p 8000:8000 -v chatsite-data:/data chatsite
# (docs/deployment.md has the production variables.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first, from pyproject.toml and the lock alone, so code changes reuse this layer.
# `pip install .` installs the runtime dependencies (the project itself has no importable
# packages to install: it runs from /app, like `make run` runs from the checkout), each at the
# exact version constraints.txt holds, the transitive ones too (decision 42).
COPY pyproject.toml constraints.txt ./
RUN pip install -c constraints.txt pip \
    && pip install -c constraints.txt .

COPY . .

# Static files are collected at build time. A throw-away SECRET_KEY and DATA_DIR keep the
# settings from writing a generated key into the image (a named volume would copy it).
# The compiled translations (locale/ja/LC_MESSAGES/*.mo) are committed, so no gettext here.
RUN SECRET_KEY=collectstatic-only DATA_DIR=/tmp/build-data \
        python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-data

# The code stays owned by root (read-only to the app); only /data is writable.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin chatsite \
    && mkdir -p /data \
    && chown chatsite:chatsite /data
VOLUME ["/data"]
USER chatsite

EXPOSE 8000
# /healthz: the database and the channel layer (docs/deployment.md, "Health checks").
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--websocket_connect_timeout", "30", "chatsite.asgi:application"]
