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
EXPOSE 8000
CMD ["recyclab", "web", "--host", "0.0.0.0"]
