"""The rules of RULES.md: services that take a context (store + actor) and return plain data."""
