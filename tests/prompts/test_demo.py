def test_it_seeds_demo_prompts_once(acme, alice, bob, carol, erin):
    from apps.core.tenancy import team_scope
    from apps.prompts import demo, selectors
    from apps.prompts.models import PromotionRequest, Prompt, PromptVersion, TagEvent

    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    demo.seed(acme, users)
    with team_scope(acme):
        counts = (
            Prompt.objects.count(),
            PromptVersion.objects.count(),
            TagEvent.objects.count(),
            PromotionRequest.objects.count(),
        )
    demo.seed(acme, users)
    with team_scope(acme):
        again = (
            Prompt.objects.count(),
            PromptVersion.objects.count(),
            TagEvent.objects.count(),
            PromotionRequest.objects.count(),
        )
        assert counts == again
        assert counts[0] == 3 and counts[1] == 7
        support = Prompt.objects.get(name="support-reply")
        assert selectors.version_at_tag(support, "production").number == 2
        assert selectors.version_at_tag(support, "staging").number == 3
        open_request = PromotionRequest.objects.get(status="open")
        assert open_request.requester == bob
        assert list(selectors.needs_review(alice, acme)) == [open_request]
        chat = Prompt.objects.get(name="chat-assistant")
        rendered = selectors.version_at_tag(chat, "production")
        assert {"role": "placeholder", "name": "history"} in rendered.messages


def test_it_seeds_triage_versions_that_render_every_demo_ticket(acme, alice, bob, carol, erin):
    """'Run on dataset' from any triage version must not turn every demo row into an error."""
    from apps.core.tenancy import team_scope
    from apps.datasets import demo as datasets_demo
    from apps.datasets.selectors import examples_at_revision
    from apps.prompts import demo
    from apps.prompts.models import PromptVersion
    from apps.prompts.rendering import render_prompt

    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    demo.seed(acme, users)
    dataset = datasets_demo.seed(acme, users)
    with team_scope(acme):
        rows = list(examples_at_revision(dataset))
        for version in PromptVersion.objects.filter(prompt__name="ticket-triage"):
            for row in rows:
                text = render_prompt(
                    kind=version.kind,
                    template=version.template,
                    messages=version.messages,
                    variables_schema=version.variables_schema,
                    values=row.input,
                )
                assert row.input["ticket"] in text and "The ticket is in ." not in text
