def test_it_seeds_demo_prompts_once(acme, alice, bob, carol, erin):
    from apps.core.tenancy import team_scope
    from apps.prompts import demo, selectors
    from apps.prompts.models import FetchStat, PromotionRequest, Prompt, PromptVersion, TagEvent

    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}

    def counts():
        with team_scope(acme):
            return (
                Prompt.objects.count(),
                PromptVersion.objects.count(),
                TagEvent.objects.count(),
                PromotionRequest.objects.count(),
                sorted(FetchStat.objects.values_list("fetch_count", flat=True)),
            )

    demo.seed(acme, users)
    first = counts()
    demo.seed(acme, users)
    assert counts() == first
    assert first[:2] == (3, 7) and first[4] == [25, 60, 240]
    with team_scope(acme):
        support = Prompt.objects.get(name="support-reply")
        assert selectors.version_at_tag(support, "production").number == 1
        assert selectors.version_at_tag(support, "staging").number == 3
        # staging went through the regression first; nothing is waiting for review yet.
        staging = TagEvent.objects.filter(prompt=support, tag_name="staging").order_by("pk")
        assert [e.to_version.number for e in staging] == [2, 3]
        assert not PromotionRequest.objects.filter(status="open").exists()
        # bob, an editor, may review support-reply's promotions.
        assert bob.has_perm("prompts.approve_promotion", support)
        every = PromptVersion.objects.all()
        assert all(v.model_settings.get("provider_id") for v in every)
        chat = Prompt.objects.get(name="chat-assistant")
        rendered = selectors.version_at_tag(chat, "production")
        assert {"role": "placeholder", "name": "history"} in rendered.messages


def test_it_seeds_support_reply_versions_that_really_score_differently(
    acme, alice, bob, carol, erin
):
    """demo-echo follows each version's instructions: v2 drops what v1 says, v3 adds the status."""
    from apps.core.tenancy import team_scope
    from apps.llm.demo_echo import answer
    from apps.prompts import demo
    from apps.prompts.models import PromptVersion
    from apps.prompts.rendering import render_prompt

    demo.seed(acme, {"alice": alice, "bob": bob, "carol": carol, "erin": erin})
    values = {
        "message": "I paid for express shipping five days ago. Where is my order now?",
        "order_status": "delayed",
    }
    with team_scope(acme):
        replies = {}
        for version in PromptVersion.objects.filter(prompt__name="support-reply"):
            messages = render_prompt(
                kind=version.kind,
                template=version.template,
                messages=version.messages,
                variables_schema=version.variables_schema,
                values=values,
            )
            replies[version.number] = answer({"messages": messages})[0]
    assert replies[1].startswith("Thank you for reaching out.") and "delayed" not in replies[1]
    assert replies[2] == "I paid for express shipping five days ago."
    assert replies[3].startswith("Thank you") and replies[3].endswith("Your order status: delayed.")


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
