"""The quality dashboard: buckets of traces and scores per hour and day, per prompt version
and function version (services keep them, selectors read them, charts draw them)."""
