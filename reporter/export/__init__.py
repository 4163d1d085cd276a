"""Stage 4: self-contained HTML, PDF and machine-readable files."""
