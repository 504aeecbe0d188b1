from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import admin_audit, signals  # noqa: F401  (connects the receivers)

        admin_audit.install()
