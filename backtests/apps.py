from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    name = "backtests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.privacy import register_exporter
        from backtests import selectors, services

        register_exporter("backtests", selectors.backtest_export_for_user, services.backtest_delete_for_user)
