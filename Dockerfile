# The Vitrine app image: API server (`vitrine serve`); the same image runs one-off commands.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 VITRINE_VAR_DIR=/data VITRINE_BIND=0.0.0.0:8000
COPY pyproject.toml README.md gunicorn.conf.py ./
COPY backend ./backend
COPY loaders ./loaders
COPY migrations ./migrations
COPY data ./data
RUN pip install --no-cache-dir torch torchvision && pip install --no-cache-dir -e .
EXPOSE 8000
# gunicorn.conf.py: one worker of VITRINE_THREADS threads on the embedded index (it holds the
# folder and runs upload jobs); VITRINE_WORKERS processes with VITRINE_QDRANT_URL.
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
