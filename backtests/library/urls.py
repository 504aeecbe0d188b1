"""Browser pages of the strategy library (the API is in ``backtests/api/strategies.py``)."""

from django.urls import path

from backtests.library import views

urlpatterns = [
    path("strategies/", views.strategies_page, name="strategies-page"),
    path("strategies/from-template", views.strategy_from_template_page, name="strategy-from-template-page"),
    path("strategies/import", views.strategy_import_page, name="strategy-import-page"),
    path("strategies/<int:pk>/", views.strategy_page, name="strategy-page"),
    path("strategies/<int:pk>/run", views.strategy_run_page, name="strategy-run-page"),
    path("strategies/<int:pk>/delete", views.strategy_delete_page, name="strategy-delete-page"),
    path("strategies/<int:pk>/versions/<int:number>/", views.strategy_version_page, name="strategy-version-page"),
]
