from django.apps import AppConfig
from django.db.models.signals import post_delete


class BacktestsConfig(AppConfig):
    name = "backtests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.privacy import register_exporter
        from backtests import selectors, services

        register_exporter("backtests", selectors.backtest_export_for_user, services.backtest_delete_for_user)
        # A run's files go with it, however it is deleted (API, admin, account deletion, cascade),
        # once the deletion has committed.
        post_delete.connect(_delete_artifact_file, sender="backtests.Artifact", dispatch_uid="artifact-file")


def _delete_artifact_file(sender, instance, **_kwargs) -> None:
    from qm_platform import artifacts

    artifacts.delete_on_commit(instance.storage_key)
