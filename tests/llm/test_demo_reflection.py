"""demo-echo's documented reflection rule: feedback in, a changed instruction out."""

from apps.llm.demo_echo import answer

REQUEST = """I provided an assistant with the following instructions to perform a task for me:
```
Keep it brief.
```

The following are examples ... with feedback:
```
# Example 1
## Feedback
states-order-status failed: Missing 'shipped'. The reply was expected order_status "shipped".
# Example 2
## Feedback
thanks failed: Missing 'thank you'. The reply was missing literal "thank you".
```

Provide the new instructions within ``` blocks."""


def test_it_proposes_instructions_that_answer_the_feedback():
    text, _ = answer({"model": "demo-echo", "messages": [{"role": "user", "content": REQUEST}]})
    reasons, fenced = text.split("```", 1)
    assert "test server" in reasons and "left out the expected order status" in reasons
    assert fenced.strip("`\n ") == (
        'Keep it brief. Always include the order status word for word. End with "thank you".'
    )


def test_it_follows_the_instructions_it_proposed():
    system = "Keep it brief. Always include the order status word for word."
    user = "I ordered a grinder two weeks ago and it has not come. Where is it?\n\n"
    user += "Order status: shipped"
    text, _ = answer(
        {
            "model": "demo-echo",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
    )
    assert text.endswith("Your order status: shipped.")


def test_it_leaves_instructions_unchanged_without_feedback_it_knows():
    request = REQUEST.replace("expected order_status", "wanted").replace("missing literal", "x")
    text, _ = answer({"model": "demo-echo", "messages": [{"role": "user", "content": request}]})
    assert "unchanged" in text and text.endswith("```\nKeep it brief.\n```")
