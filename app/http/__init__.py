"""The HTTP edge: routes by resource, request checks, schemas, middleware and the one place that
turns errors into status codes. It calls ``app.serving`` and ``app.training``; they never call it."""
