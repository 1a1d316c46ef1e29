"""The HTTP server: a small WSGI router on cheroot. Knows nothing of Slack."""
