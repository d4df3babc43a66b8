from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TeamsConfig(AppConfig):
    name = "apps.teams"
    label = "teams"

    def ready(self):
        from axes.signals import user_locked_out

        from apps.teams import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from apps.teams.keys import forget_changed_api_key, forget_changed_membership
        from apps.teams.lockouts import lockout_audit

        # A remembered API key must not outlive its revocation in this process.
        post_save.connect(
            forget_changed_api_key, sender="teams.ApiKey", dispatch_uid="teams_api_key_saved"
        )
        post_delete.connect(
            forget_changed_api_key, sender="teams.ApiKey", dispatch_uid="teams_api_key_deleted"
        )
        # A key acts with its person's current role: a role change or a removal is seen at
        # once by this process's remembered keys.
        post_save.connect(
            forget_changed_membership,
            sender="teams.Membership",
            dispatch_uid="teams_membership_saved",
        )
        post_delete.connect(
            forget_changed_membership,
            sender="teams.Membership",
            dispatch_uid="teams_membership_deleted",
        )
        # A sign-in lockout is recorded in the audit trail of the account's teams.
        user_locked_out.connect(lockout_audit, dispatch_uid="teams_sign_in_lockout")
