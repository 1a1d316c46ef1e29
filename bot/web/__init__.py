"""The HTTP front: uvicorn holds connections, WSGI routes run on threads. Knows nothing of Slack."""
