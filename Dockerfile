# The Vitrine app image: API server (`vitrine serve`); the same image runs one-off commands.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 VITRINE_VAR_DIR=/data
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY loaders ./loaders
COPY migrations ./migrations
COPY data ./data
RUN pip install --no-cache-dir torch torchvision && pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "backend.app:create_app()"]
