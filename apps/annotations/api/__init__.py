"""The annotation API: `queues` (set up, fill, assign, claim, agreement, failures into a
dataset), `items` (one item: assign, annotate, skip, decide) and `annotations` (verdicts).

The same services as the pages. Keys need the `annotations:write` scope, for reads too:
items carry model inputs and outputs.
"""
