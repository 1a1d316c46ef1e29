"""Local HTTP servers that stand in for Slack and the task APIs in tests and benchmarks."""
