"""Chains: a version's steps, and the kind "chain".

SQLite rebuilds the table for these changes, which drops the immutability trigger of
0002: it is made again here, over the content columns and the new `steps` (on PostgreSQL
it is replaced so `steps` is covered too).
"""

from django.db import migrations, models

COLUMNS = (
    "team_id, prompt_id, number, kind, template, messages, steps, variables, "
    "variables_schema, model_settings, commit_message, author_label, parent_id, "
    "content_hash, created_at"
)
OLD_COLUMNS = (
    "team_id, prompt_id, number, kind, template, messages, variables, variables_schema, "
    "model_settings, commit_message, author_label, parent_id, content_hash, created_at"
)


def _pg(columns):
    return [
        "DROP TRIGGER IF EXISTS prompts_promptversion_immutable ON prompts_promptversion;",
        f"""
        CREATE TRIGGER prompts_promptversion_immutable
        BEFORE UPDATE OF {columns} ON prompts_promptversion
        FOR EACH ROW EXECUTE FUNCTION prompts_promptversion_immutable();
        """,
    ]


def _sqlite(columns):
    return [
        "DROP TRIGGER IF EXISTS prompts_promptversion_immutable;",
        f"""
        CREATE TRIGGER prompts_promptversion_immutable
        BEFORE UPDATE OF {columns} ON prompts_promptversion
        BEGIN SELECT RAISE(ABORT, 'prompt versions are immutable'); END;
        """,
    ]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0010_rollout_guardrail_score"),
    ]

    operations = [
        migrations.AddField(
            model_name="promptversion",
            name="steps",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="promptversion",
            name="kind",
            field=models.CharField(
                choices=[("text", "Text"), ("chat", "Chat"), ("chain", "Chain")],
                default="text",
                max_length=10,
            ),
        ),
        migrations.RunPython(
            _run({"postgresql": _pg(COLUMNS), "sqlite": _sqlite(COLUMNS)}),
            _run({"postgresql": _pg(OLD_COLUMNS), "sqlite": _sqlite(OLD_COLUMNS)}),
        ),
    ]
