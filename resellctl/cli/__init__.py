"""Typer front end: parse arguments, call one domain service, render the result."""
