FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core poppler-utils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir .
ENV DJANGO_SETTINGS_MODULE=qm_platform.settings PYTHONUNBUFFERED=1
EXPOSE 8000
