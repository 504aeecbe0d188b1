from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "marketdata"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.privacy import register_exporter
        from marketdata import selectors, services

        register_exporter("marketdata", selectors.dataset_export_for_user, services.dataset_delete_for_user)
