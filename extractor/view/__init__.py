"""Render stage for people: a self-contained page showing each card beside its article, with
every signal row's evidence highlighted in the text."""
