"""Dramatiq on Redis: the broker (with consumers that fetch at once) and one actor per task kind."""
