"""The Hub's REST API, one module per subject; the same services as the pages. Serving
(what applications fetch at run time) is apps.prompts.api.serving."""
