"""The Slack front end: the only package that imports slack_bolt / slack_sdk.

Listeners parse, ack fast, call the service and render; Block Kit builders live in ``blocks``.
May import ``bot.service`` and ``bot.domain``, never ``bot.backends``, httpx or SQL.
"""
