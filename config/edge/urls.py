from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config.views import healthz, redoc_bundle

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.edge.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both pages load only this site's files and run no inline script (Content-Security-Policy):
    # Swagger UI fetches its start script from ?script; Redoc's template is ours (templates/)
    # and so is its bundle, the sidecar's without the CDN logo.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/redoc/redoc.standalone.js", redoc_bundle, name="redoc-bundle"),
    path("healthz", healthz, name="healthz"),
]
