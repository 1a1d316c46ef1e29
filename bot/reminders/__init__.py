"""Scheduled work: the APScheduler runtime and its jobs (reminder sweep, backend sync).

Jobs are stateless; the store holds their state, so several schedulers can run at once.
"""
