"""Scores on traces and spans: feedback from applications and people, verdicts, online
evaluators' judgements. `services` writes them, `selectors` reads them."""
