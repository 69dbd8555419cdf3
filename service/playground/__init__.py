"""The playground (``GET /``) and the interactive API docs (``GET /docs``): static pages served by the
service itself, no build step and no CDN, under a strict Content-Security-Policy."""
