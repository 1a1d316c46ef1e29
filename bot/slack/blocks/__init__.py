"""Block Kit builders: pure functions from domain objects to ``slack_sdk.models`` blocks/views.

No Web API calls and no Bolt here; ``to_dict()`` validates what slack_sdk can check.
"""
