"""demo-echo's refine-assistant rule (test-server behaviour): deterministic proposals."""

from apps.llm.demo_echo import answer


def _body(system, template, request, rows=""):
    user = f"Current template:\n```template\n{template}\n```\n\nVariables: name\n\n"
    if rows:
        user += rows + "\n\n"
    user += f"Request: {request}"
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}


def test_it_appends_the_request_to_the_template():
    text, _ = answer(_body("You are the refine assistant.", "Hi {{ name }}", "make it shorter"))
    assert text.endswith("```template\nHi {{ name }}\n\nMake it shorter.\n```")
    assert (
        text
        == answer(_body("You are the refine assistant.", "Hi {{ name }}", "make it shorter"))[0]
    )


def test_it_answers_questions_without_an_edit():
    rows = "Failing rows (3):\nRow 1:\n  input: 1"
    text, _ = answer(_body("Refine assistant here.", "Hi", "why does it fail these rows?", rows))
    assert "It was shown 3 failing rows. No edit proposed." in text and "```" not in text


def test_it_leaves_other_requests_to_the_echo():
    text, _ = answer(_body("You are a helpful bot.", "Hi", "make it shorter"))
    assert text.startswith("echo: Current template:")
