"""Annotation pages: `queues` (list, set up, fill, assign, the inbox) and `annotate` (the
item page an annotator works through). Thin: selectors read, services write."""
