"""Experiments' HTML pages, one module per subject: experiments, evaluators, compare, and
the tag policies and evidence of promotion on evidence (policies)."""
