"""Metadata database (SQLAlchemy + Alembic) and ciphertext blob storage of the untrusted host."""
