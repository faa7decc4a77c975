"""Core types: the card, its seed format, errors, usage and results. Imports no backend."""
