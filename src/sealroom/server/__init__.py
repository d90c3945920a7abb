"""The untrusted host: FastAPI app, accounts, routes, job workers."""
