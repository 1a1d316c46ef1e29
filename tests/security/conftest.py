"""The end-to-end harness (real taskbot over signed HTTP, Slack stub) for the security tests."""

from tests.e2e.conftest import make_taskbot, slack, slack_session, taskbot

__all__ = ["make_taskbot", "slack", "slack_session", "taskbot"]
