"""The prompt diff marks the words that changed inside a line, shows whitespace changes
with visible markers, and leaves escaping to the template (untrusted text stays text)."""

import pytest
from django.urls import reverse

from apps.prompts.diffing import side_by_side, unified, word_parts


def changed(parts, kind):
    return [(p.shown, p.marked) for p in parts if p.kind == kind]


def test_it_marks_only_the_words_that_changed():
    left, right = word_parts("Answer the ticket politely.", "Answer the ticket briefly.")
    assert changed(left, "del") == [("politely", False)]
    assert changed(right, "add") == [("briefly", False)]
    assert "".join(p.text for p in left) == "Answer the ticket politely."
    assert "".join(p.text for p in right) == "Answer the ticket briefly."


def test_it_shows_changed_spaces_and_tabs_with_markers():
    left, right = word_parts("Hello  world", "Hello\tworld ")
    assert changed(left, "del") == [("··", True)]
    assert changed(right, "add") == [("→", True), ("·", True)]


def test_it_shows_an_added_empty_line_and_a_final_newline():
    rows = side_by_side("a\nb", "a\n\nb\n")
    added = [row.right_parts for row in rows if row.kind != "equal"]
    assert [[(p.shown, p.marked) for p in parts] for parts in added] == [
        [("↵", True)],
        [("↵", True)],
    ]


def test_it_pairs_changed_lines_word_by_word_in_the_unified_view():
    lines = unified("one\ntwo cats\nthree", "one\ntwo dogs\nthree", old_name="v1", new_name="v2")
    assert [line.kind for line in lines] == ["hunk", "context", "del", "add", "context"]
    assert changed(lines[2].parts, "del") == [("cats", False)]
    assert changed(lines[3].parts, "add") == [("dogs", False)]
    assert lines[0].text == "@@ -1,3 +1,3 @@"


def test_it_keeps_a_whitespace_only_line_visible():
    rows = side_by_side("x\n   \ny", "x\ny")
    removed = [row for row in rows if row.kind != "equal"]
    assert [(p.shown, p.marked) for p in removed[0].left_parts] == [("···", True)]


@pytest.mark.parametrize("mode", ["side", "unified"])
def test_it_renders_word_changes_escaped(client, alice, hub, mode):
    from apps.prompts import services

    services.version_create(
        team=hub["team"],
        actor=alice,
        prompt=hub["prompt"],
        kind="text",
        template="Hello\t{{ name }}! <script>alert(1)</script>",
        commit_message="markup",
    )
    client.force_login(alice)
    path = reverse(
        "prompts:diff",
        kwargs={"team_slug": "acme", "prompt_name": "greeter", "from_number": 2, "to_number": 3},
    )
    body = client.get(f"{path}?mode={mode}").content.decode()
    assert "<script>alert(1)</script>" not in body
    # v2 is "Hello {{ name }}!": the space became a tab, the markup was added after it.
    assert '<ins class="diff-add"> &lt;script&gt;alert(1)&lt;/script&gt;</ins>' in body
    assert '<ins class="diff-add ws-mark" title="whitespace added">→</ins>' in body


def test_it_pairs_a_changed_line_with_its_likeliest_counterpart():
    rows = side_by_side("Be brief.\nSign as {{ name }}.", "Be brief.\n\nSign as {{ name }} today.")
    changed_rows = [(r.left_no, r.right_no) for r in rows if r.kind != "equal"]
    # The inserted empty line stands alone; the sign-off is paired with its edit.
    assert changed_rows == [(None, 2), (2, 3)]
    signoff = rows[-1]
    assert changed(signoff.left_parts, "del") == []
    assert changed(signoff.right_parts, "add") == [(" today", False)]
