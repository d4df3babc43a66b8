"""Prompt Hub pages, one module per subject. Thin: parse, call a service or selector,
render; every write goes through apps.prompts.services."""
