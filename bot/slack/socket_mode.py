"""Socket Mode: Slack connects out over a WebSocket, for hosts without a public URL.

Selected when ``SLACK_APP_TOKEN`` is set. Requests come unsigned over the socket, which Slack
authenticates with the app-level token instead.
"""

from __future__ import annotations

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.slack.app import SlackApp


def start_socket_mode(app: SlackApp, app_token: str) -> SocketModeHandler:
    """Connect in background threads; call ``close()`` on the handler to stop."""
    handler = SocketModeHandler(app.bolt, app_token=app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    return handler
