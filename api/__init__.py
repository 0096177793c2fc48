"""The HTTP API: routes, schemas, uploads, auth and CORS."""
