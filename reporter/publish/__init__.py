"""Stage 5: put the built report where people get it."""
