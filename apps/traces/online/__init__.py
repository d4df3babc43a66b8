"""Online evaluators: rules that score live traces from the worker, after ingestion."""
