"""Use cases (create, assign, complete part, …), permissions and notifications out.

Imports only ``bot.domain``; talks to Slack, task systems and the store through the ports in
``bot.service.ports``, which the adapters implement and ``bot.bootstrap`` wires.
"""
