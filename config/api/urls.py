"""Every app registers its viewsets on the one router, under /api/v1/."""

from config.api.routers import ApiRouter
from customers.api.views import CustomerViewSet
from tags.api.views import TagViewSet

router = ApiRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("customer_tags", TagViewSet, basename="customer_tag")

urlpatterns = router.urls
