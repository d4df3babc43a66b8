"""Signals other apps listen to. Sent after the transaction that caused them commits."""

from django.dispatch import Signal

# Sent with team_id, prompt_name, tag_name after a tag moved (serving caches drop the entry).
tag_moved = Signal()


def send_tag_moved(team_id: int, prompt_name: str, tag_name: str) -> None:
    tag_moved.send(sender=None, team_id=team_id, prompt_name=prompt_name, tag_name=tag_name)


# Sent with team_id, prompt_name, tag_name, rollout_id after a rollout started, stepped,
# completed or was aborted (serving caches drop the team's answers; webhooks).
rollout_changed = Signal()


def send_rollout_changed(team_id: int, prompt_name: str, tag_name: str, rollout_id: int) -> None:
    rollout_changed.send(
        sender=None,
        team_id=team_id,
        prompt_name=prompt_name,
        tag_name=tag_name,
        rollout_id=rollout_id,
    )
