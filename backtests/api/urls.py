from rest_framework.routers import SimpleRouter

from backtests.api.modules import ModuleViewSet
from backtests.api.strategies import StrategyViewSet
from backtests.api.views import BacktestViewSet, TemplateViewSet


class OptionalSlashRouter(SimpleRouter):
    """``/api/v1/backtests`` and ``/api/v1/backtests/`` both resolve (no redirect on POST)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("backtests", BacktestViewSet, basename="backtest")
router.register("modules", ModuleViewSet, basename="module")
router.register("templates", TemplateViewSet, basename="template")
router.register("strategies", StrategyViewSet, basename="strategy")
urlpatterns = router.urls
