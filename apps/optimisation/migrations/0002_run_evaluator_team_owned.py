"""The run↔evaluator link becomes a TeamOwned model (it had Django's auto-created table,
which carries no team). The links are copied with their run's team, then the old table
goes."""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000


def copy_links(apps, schema_editor):
    """Each auto-table row becomes a RunEvaluator with its run's team (plain managers:
    migrations see no scope)."""
    OptimisationRun = apps.get_model("optimisation", "OptimisationRun")
    RunEvaluator = apps.get_model("optimisation", "RunEvaluator")
    Old = OptimisationRun._meta.get_field("evaluators").remote_field.through
    rows = Old.objects.order_by("pk").values_list(
        "pk", "optimisationrun_id", "optimisationrun__team_id", "evaluator_id"
    )
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last)[:BATCH])
        if not batch:
            break
        RunEvaluator.objects.bulk_create(
            [
                RunEvaluator(run_id=run_id, team_id=team_id, evaluator_id=evaluator_id)
                for _, run_id, team_id, evaluator_id in batch
            ]
        )
        last = batch[-1][0]


def copy_back(apps, schema_editor):
    OptimisationRun = apps.get_model("optimisation", "OptimisationRun")
    RunEvaluator = apps.get_model("optimisation", "RunEvaluator")
    Old = OptimisationRun._meta.get_field("evaluators").remote_field.through
    Old.objects.bulk_create(
        [
            Old(optimisationrun_id=run_id, evaluator_id=evaluator_id)
            for run_id, evaluator_id in RunEvaluator.objects.values_list("run_id", "evaluator_id")
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("optimisation", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="RunEvaluator",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("evaluator", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="experiments.evaluator")),
                ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="evaluator_links", to="optimisation.optimisationrun")),
                ("team", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="teams.team")),
            ],
            options={
                "ordering": ["run", "evaluator"],
                "abstract": False,
            },
        ),
        migrations.AddConstraint(
            model_name="runevaluator",
            constraint=models.UniqueConstraint(fields=("run", "evaluator"), name="optrun_evaluator_unique"),
        ),
        migrations.RunPython(copy_links, copy_back),
        migrations.RemoveField(model_name="optimisationrun", name="evaluators"),
        migrations.AddField(
            model_name="optimisationrun",
            name="evaluators",
            field=models.ManyToManyField(related_name="+", through="optimisation.RunEvaluator", to="experiments.evaluator"),
        ),
    ]
