"""Helpers shared by the serving tests (tests/prompts/test_serving*.py) and the SDK tests."""

from __future__ import annotations

from apps.core.tenancy import team_scope


def unprotect(team, actor) -> None:
    """Let tests move `production` directly (the promotion flow has its own tests)."""
    from apps.teams.services import team_set_protected_tags

    with team_scope(team):
        team_set_protected_tags(team=team, actor=actor, tags=[])
    team.refresh_from_db()


def make_prompt(team, actor, name="greeting", templates=("Hello {{ name }}",), tag="production"):
    """A text prompt with one version per template, `tag` on the first. Returns
    (prompt, [versions])."""
    from django.test import TestCase

    from apps.prompts import services

    with team_scope(team), TestCase.captureOnCommitCallbacks(execute=True):
        prompt = services.prompt_create(team=team, actor=actor, name=name)
        versions = [
            services.version_create(
                team=team,
                actor=actor,
                prompt=prompt,
                kind="text",
                template=template,
                model_settings={"model": "demo-echo", "temperature": 0.2},
                commit_message=f"v{i + 1}",
            )
            for i, template in enumerate(templates)
        ]
        if tag:
            services.tag_move(
                team=team, actor=actor, prompt=prompt, tag_name=tag, version=versions[0]
            )
    return prompt, versions


def move(team, actor, prompt, version, tag="production") -> None:
    """Move a tag as a committed transaction would: on-commit callbacks run (inside a
    test's wrapping transaction they would otherwise never fire)."""
    from django.test import TestCase

    from apps.prompts import services

    with team_scope(team), TestCase.captureOnCommitCallbacks(execute=True):
        services.tag_move(team=team, actor=actor, prompt=prompt, tag_name=tag, version=version)
