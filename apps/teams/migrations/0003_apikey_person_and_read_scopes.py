"""Existing keys under the rules of issue 14.

- Read scopes: `prompts:read` used to read datasets, experiments (with evaluators) and
  providers too, and `traces:write` read traces back. Those keys get the read scopes that
  now say so (datasets:read, experiments:read; traces:read), so they keep what they could
  do. Write scopes already read their own area.
- A principal behind every key: a key made with another key recorded no person (the
  four-eyes bypass). It is revoked, with the reason; so is a key whose person is no
  longer a member of its team.
"""

from django.db import migrations
from django.utils import timezone

ADDED_READS = {
    "prompts:read": ("datasets:read", "experiments:read"),
    "traces:write": ("traces:read",),
}
NO_PERSON = "No person behind this key (made with another API key); create a new one."


def forwards(apps, schema_editor):
    ApiKey = apps.get_model("teams", "ApiKey")
    Membership = apps.get_model("teams", "Membership")
    members = set(Membership.objects.values_list("team_id", "user_id"))
    now = timezone.now()
    for key in ApiKey.objects.select_related("created_by").iterator():
        changed = []
        scopes = set(key.scopes or [])
        for scope in list(scopes):
            scopes.update(ADDED_READS.get(scope, ()))
        if scopes != set(key.scopes or []):
            key.scopes = sorted(scopes)
            changed.append("scopes")
        if key.revoked_at is None:
            reason = None
            if key.created_by_id is None:
                reason = NO_PERSON
            elif (key.team_id, key.created_by_id) not in members:
                person = key.created_by
                reason = f"{person.name or person.email} left the team"
            if reason is not None:
                key.revoked_at = now
                key.revoked_reason = reason
                changed += ["revoked_at", "revoked_reason"]
        if changed:
            key.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [("teams", "0002_apikey_person")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
