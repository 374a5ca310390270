# tunebot: slim, non-root, dependencies in their own cached layer, vocabularies baked in.
FROM python:3.11-slim

# TIKTOKEN_CACHE_DIR names a cache directory, not a secret (DL3064 matches on "TOKEN").
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TIKTOKEN_CACHE_DIR=/opt/tunebot/tiktoken \
    PORT=3000

WORKDIR /opt/tunebot/src

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY bot ./bot
COPY admin ./admin
COPY storage ./storage
RUN pip install --no-deps . \
    && python -m admin.tokens \
    && useradd --create-home --uid 10001 tunebot \
    && mkdir -p /data \
    && chown tunebot /data

# The working directory holds the SQLite default (tunebot.db) and the dataset store (data/):
# a volume, so they outlive the container even when no volume is named at `docker run`.
VOLUME ["/data"]
USER 10001
WORKDIR /data
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["tunebot", "healthcheck"]

CMD ["tunebot", "run"]
