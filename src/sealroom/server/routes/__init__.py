"""HTTP routes of the untrusted host, one module per area."""
