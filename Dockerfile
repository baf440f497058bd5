# The platform's one image. Every process is a command of it, the same as in the Procfile:
# the default command is the Procfile's `web`; docker-compose.yml, fly.toml and render.yaml run
# `release`, `worker`, `beat` and `flower` from it with the Procfile's commands.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when requirements.txt changes. The same
# install as `python3 dev.py run` does (pip install -r requirements.txt).
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image (whitenoise serves them). The settings need a key
# and service URLs to load; collectstatic connects to neither, so placeholders do. Then the
# unprivileged user gets the two directories the platform writes: var/ (data files) and logs/.
RUN SECRET_KEY=collectstatic-only-not-a-secret \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin platform \
    && mkdir -p var/data logs \
    && chown -R platform:platform var logs

USER platform

EXPOSE 8000
# Through sh for $PORT (platforms set it; 8000 otherwise); exec so uvicorn gets the signals.
CMD ["sh", "-c", "exec uvicorn config.asgi:application --host 0.0.0.0 --port $PORT --proxy-headers --forwarded-allow-ips '*' --ws-per-message-deflate false"]
