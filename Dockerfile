# Inkwell's image: Python 3.11 slim, what serving needs installed by uv from uv.lock (no development
# tools), run as a user without privileges. The default command migrates the database, then serves; without
# DATABASE_URL it serves SQLite in the /data volume, which keeps the generated signing key too.
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY migrations ./migrations
COPY src ./src
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
# /data belongs to the user Inkwell runs as: a volume mounted there starts with the owner of the image's
# folder (the anonymous one Docker makes without -v too), so SQLite and the key file can be written.
RUN groupadd --system --gid 10001 inkwell \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /app inkwell \
    && mkdir /data && chown 10001:10001 /data
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH INKWELL_LOG_FORMAT=json DATABASE_URL=sqlite:////data/inkwell.db
VOLUME /data
USER 10001:10001
EXPOSE 8000
# Fits the default command, `inkwell serve`: compose.yaml gives each of its services the check of what it runs.
HEALTHCHECK --interval=10s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
CMD ["sh", "-c", "inkwell db upgrade && exec inkwell serve --host 0.0.0.0 --port 8000"]
