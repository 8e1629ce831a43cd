# Production image: the same steps as `make serve`, configured by environment variables
# (SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, ... see README "Production").
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_ENV=production HOST=0.0.0.0 PORT=8000
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
RUN pip install --no-cache-dir -c requirements.lock . && useradd --system --uid 1000 tagdesk
COPY . .
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v 0
USER tagdesk
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# Run `python manage.py migrate` once per release (e.g. a release job) before starting new pods.
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
