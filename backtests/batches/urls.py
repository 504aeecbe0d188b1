from backtests.api.urls import OptionalSlashRouter
from backtests.batches.api import BatchViewSet, ScheduleViewSet

router = OptionalSlashRouter()
router.register("batches", BatchViewSet, basename="batch")
router.register("schedules", ScheduleViewSet, basename="schedule")
urlpatterns = router.urls
