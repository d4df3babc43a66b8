"""Function versions: the code of traced functions, numbered per function (v1, v2, …)."""
