"""Every app registers its viewsets on the one router, under /api/v1/."""

from config.api.routers import ApiRouter
from customers.api.views import CustomerViewSet

router = ApiRouter()
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = router.urls
