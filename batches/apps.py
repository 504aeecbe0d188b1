from django.apps import AppConfig
from django.db.models.signals import post_delete


class BatchesConfig(AppConfig):
    name = "batches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.privacy import register_exporter
        from batches.services.privacy import batch_delete_for_user, batch_export_for_user

        register_exporter("batches", batch_export_for_user, batch_delete_for_user)
        # A batch's report PDF goes with it, once the deletion has committed.
        post_delete.connect(_delete_report_file, sender="batches.Batch", dispatch_uid="batch-report-file")


def _delete_report_file(sender, instance, **_kwargs) -> None:
    from qm_platform import artifacts

    artifacts.delete_on_commit(instance.report_key)
