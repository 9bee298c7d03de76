from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_migrate

        from . import roles, signin

        post_migrate.connect(
            roles.sync_role_groups_after_migrate, dispatch_uid="cairn_role_groups"
        )
        # Django's own receiver (same dispatch uid) saved the user with its
        # history: one empty "Changed User" row per sign-in.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(
            signin.record_last_login, dispatch_uid="update_last_login"
        )
