from rest_framework.routers import SimpleRouter

from marketdata.api.views import DatasetViewSet


class OptionalSlashRouter(SimpleRouter):
    """``/api/v1/datasets`` and ``/api/v1/datasets/`` both resolve (no redirect on POST)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("datasets", DatasetViewSet, basename="dataset")
urlpatterns = router.urls
