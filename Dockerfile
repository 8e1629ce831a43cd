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
# The probe names a host the app accepts (the first of ALLOWED_HOSTS): /healthz answers 400 to
# a host outside ALLOWED_HOSTS like every other page.
HEALTHCHECK CMD python -c "import os, urllib.request as u; h = os.environ['ALLOWED_HOSTS'].split(',')[0].strip().lstrip('.'); h = 'localhost' if h in ('', '*') else h; u.urlopen(u.Request('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', headers={'Host': h}), timeout=5)"
# Run `python manage.py migrate` once per release (e.g. a release job) before starting new pods.
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
