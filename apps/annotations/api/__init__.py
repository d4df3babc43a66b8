"""The annotation API: `queues` (set up, fill, assign, claim, agreement, failures into a
dataset), `items` (one item: assign, annotate, skip, decide) and `annotations` (verdicts).

The same services as the pages. Keys read with `annotations:read` and write with
`annotations:write`, within their person's role.
"""
