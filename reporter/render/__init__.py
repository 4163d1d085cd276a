"""Stage 3: charts as static images and the report's HTML from Jinja templates."""
