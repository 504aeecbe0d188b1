from backtests.api.urls import OptionalSlashRouter
from batches.api.views import BatchViewSet, ScheduleViewSet

router = OptionalSlashRouter()
router.register("batches", BatchViewSet, basename="batch")
router.register("schedules", ScheduleViewSet, basename="schedule")
urlpatterns = router.urls
