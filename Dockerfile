# One image for every Recyclab process; the compose file picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 RECYCLAB_VAR_DIR=/var/lib/recyclab
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lims lims
COPY ingest ingest
COPY analytics analytics
COPY config config
RUN pip install --no-cache-dir -e . && useradd --system recyclab \
    && mkdir -p /var/lib/recyclab && chown recyclab /var/lib/recyclab
USER recyclab
# Shared state is in PostgreSQL/InfluxDB/the broker; /var/lib/recyclab holds only what one
# process keeps for itself (an ingester's spool). The signing key comes in as a secret file
# (RECYCLAB_SIGNING_KEY_FILE), never generated inside a container.
EXPOSE 8000
# For the default command (web); docker-compose.yml sets the ingester's own check.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["recyclab", "web", "--host", "0.0.0.0"]
