"""Bolt listeners, one module per kind of Slack request, each with ``register(registrar, deps)``.

Listeners are thin: parse, ``ack()`` within Slack's 3 seconds, then call the service and render.
"""
