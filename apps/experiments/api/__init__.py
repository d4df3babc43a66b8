"""Experiments' API, one module per subject: experiments, evaluators, comparison, and the CI
evaluation endpoint behind `promptyard eval`."""
