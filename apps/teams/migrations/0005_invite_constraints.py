from django.db import migrations, models


class Migration(migrations.Migration):
    """The invite constraints, in their own migration: on PostgreSQL the data migration's
    updates leave deferred trigger events that forbid altering the table in the same
    transaction."""

    dependencies = [
        ("teams", "0004_invites_for_the_invited"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='invite',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('anyone_with_link', False), ('use_limit', 1), models.Q(('email', ''), _negated=True)), models.Q(('anyone_with_link', True), ('email', '')), _connector='OR'), name='invite_email_or_anyone_with_link'),
        ),
        migrations.AddConstraint(
            model_name='invite',
            constraint=models.CheckConstraint(condition=models.Q(('use_count__lte', models.F('use_limit')), ('use_limit__gte', 1)), name='invite_uses_within_limit'),
        ),
    ]
