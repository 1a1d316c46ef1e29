"""taskbot: a Slack front end for task assignment.

Layers (see DESIGN.md): ``bot.domain`` (pure) ← ``bot.service`` ← ``bot.slack`` / ``bot.reminders``;
``bot.backends`` and ``storage`` are adapters; ``bot.bootstrap`` and ``bot.cli`` wire everything.
"""
