"""HTTP helpers: the ASGI request, middleware options, FastAPI integration, outgoing client
spans and header carriers.
"""
