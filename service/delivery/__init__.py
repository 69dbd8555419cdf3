"""How results reach clients: response types and metadata (``results``), the cache and single flight
(``cache``, ``flight``), async jobs (``jobs``, ``worker``) and their signed webhooks (``webhooks``)."""
