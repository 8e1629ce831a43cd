"""Settings for benchmarks: the project's, plus django-taggit for comparison, on PostgreSQL."""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
os.environ.setdefault("API_THROTTLE_RATE", "off")

import dj_database_url

from config.settings import *  # noqa: F403
from config.settings import ALLOWED_HOSTS, INSTALLED_APPS

BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tagdesk_bench"
)
DATABASES = {"default": dj_database_url.parse(BENCH_DATABASE_URL)}
INSTALLED_APPS = [*INSTALLED_APPS, "taggit", "bench.taggit_compare"]
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
DEBUG = False
ROOT_URLCONF = "bench.urls"
