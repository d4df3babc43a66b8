"""Dataset pages, by subject. Thin: reads through selectors, writes through services; htmx
requests get the part of the page that changed."""
