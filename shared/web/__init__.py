"""The only Flask in :mod:`shared`: blueprint factories and helpers both apps register —
sign-in, the window API and pages, the exchange and scans endpoints, JSON errors, languages,
the OpenAPI document, rate limits, the request's database session and the page helpers."""
