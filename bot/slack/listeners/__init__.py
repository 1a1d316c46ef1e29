"""Bolt listeners, one module per kind of Slack request, each with ``register(registrar, deps)``.

Listeners are thin: parse, write the job, ``ack()`` and return (Bolt answers Slack then); the
job's handler calls the service and renders. What must follow the ack at once (opening a modal
while its trigger lives) goes to ``registrar.after_ack``.
"""
