# Two images from one file: `web` (no torch) and `worker` (CUDA torch).
# docker build --target web -t atelier-web .   /   --target worker -t atelier-worker .

# GraphiQL's assets, from the locked npm packages: the web node serves them itself, so the
# explorer works without the internet (project/ide.py; `make install` does the same).
FROM node:22-bookworm-slim AS graphiql
WORKDIR /graphiql
COPY project/graphiql/package.json project/graphiql/package-lock.json project/graphiql/vendor.mjs ./
RUN npm ci --no-audit --no-fund && node vendor.mjs

FROM python:3.11-slim AS web
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ATELIER_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md Procfile ./
COPY pipelines pipelines
COPY actors actors
COPY graph graph
COPY project project
COPY --from=graphiql /graphiql/dist project/graphiql/dist
RUN pip install .
# The API, and GET /metrics for Prometheus.
EXPOSE 8000
# exec form: daphne is PID 1 and gets `docker stop`'s SIGTERM itself.
CMD ["sh", "-c", "exec daphne --bind 0.0.0.0 --port ${ATELIER_PORT:-8000} project.asgi:application"]

FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS worker
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    dramatiq_queue_prefetch=1 NUMBA_CACHE_DIR=/tmp/numba-cache \
    ATELIER_LOG_FORMAT=json ATELIER_WORKER_METRICS_HOST=0.0.0.0 ATELIER_WORKER_METRICS_PORT=9191
WORKDIR /app
COPY pyproject.toml README.md Procfile ./
COPY pipelines pipelines
COPY actors actors
COPY graph graph
COPY project project
# The image's torch satisfies the worker extra's open range: pip keeps it.
RUN pip install ".[worker]"
# The worker's Prometheus metrics (project/workermetrics.py).
EXPOSE 9191
CMD ["dramatiq", "project.worker", "--processes", "1", "--threads", "1", \
     "--worker-shutdown-timeout", "60000"]
