"""A database trigger refusing UPDATE of a prompt version's content columns.

The model refuses save() on an existing row and bulk update()/delete(); this catches
everything else that reaches the database (raw SQL, other tools). author_id stays
updatable so deleting a user can still null it.
"""

from django.db import migrations

COLUMNS = (
    "team_id, prompt_id, number, kind, template, messages, variables, variables_schema, "
    "model_settings, commit_message, author_label, parent_id, content_hash, created_at"
)

PG_UP = [
    """
    CREATE OR REPLACE FUNCTION prompts_promptversion_immutable() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'prompt versions are immutable';
    END;
    $$ LANGUAGE plpgsql;
    """,
    f"""
    CREATE TRIGGER prompts_promptversion_immutable
    BEFORE UPDATE OF {COLUMNS} ON prompts_promptversion
    FOR EACH ROW EXECUTE FUNCTION prompts_promptversion_immutable();
    """,
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS prompts_promptversion_immutable ON prompts_promptversion;",
    "DROP FUNCTION IF EXISTS prompts_promptversion_immutable();",
]
SQLITE_UP = [
    f"""
    CREATE TRIGGER prompts_promptversion_immutable
    BEFORE UPDATE OF {COLUMNS} ON prompts_promptversion
    BEGIN SELECT RAISE(ABORT, 'prompt versions are immutable'); END;
    """
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS prompts_promptversion_immutable;"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("prompts", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
