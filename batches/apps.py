from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.privacy import register_exporter
        from batches.services.privacy import batch_delete_for_user, batch_export_for_user

        register_exporter("batches", batch_export_for_user, batch_delete_for_user)
