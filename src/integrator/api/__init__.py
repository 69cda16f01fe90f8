"""HTTP only: routing, auth, rate limiting, request/response shapes and the error envelope."""
