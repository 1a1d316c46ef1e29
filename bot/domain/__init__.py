"""Pure domain: models and rules. Imports nothing of Slack, httpx, SQL or the project."""
