from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "apps.playground"
    label = "playground"

    def ready(self):
        from apps.core.hooks import hook_register  # reason: apps load before ready()
        from apps.playground.panels import refine_editor_panel  # reason: idem
        from apps.prompts.panels import EDITOR_PANELS  # reason: idem

        hook_register(EDITOR_PANELS, refine_editor_panel)
