from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("prompts", "0004_tagpolicy")]

    operations = [
        # Policies saved before keep the rule they were saved under (the weaker one);
        # new policies default to non-inferiority.
        migrations.AddField(
            model_name="tagpolicy",
            name="rule",
            field=models.CharField(
                choices=[
                    (
                        "noninferiority",
                        "Non-inferiority: shown not worse by more than the margin",
                    ),
                    (
                        "no_detectable_regression",
                        "Weaker: blocks only a regression the data can detect",
                    ),
                ],
                default="no_detectable_regression",
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="tagpolicy",
            name="rule",
            field=models.CharField(
                choices=[
                    (
                        "noninferiority",
                        "Non-inferiority: shown not worse by more than the margin",
                    ),
                    (
                        "no_detectable_regression",
                        "Weaker: blocks only a regression the data can detect",
                    ),
                ],
                default="noninferiority",
                max_length=32,
            ),
        ),
    ]
