"""The project's URLs plus the hand-written baselines of ``bench/api.py`` under ``/hand/``."""

from django.urls import path

from bench import hand_views
from config.edge.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("hand/api/v1/customers/", hand_views.customer_list),
    path("hand/api/v1/customers/<str:id>/tag", hand_views.customer_tag),
    *project_urlpatterns,
]
