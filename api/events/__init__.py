"""Events: recording them with the change they describe, and relaying them live over SSE and WebSocket."""
