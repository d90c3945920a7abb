"""The ``sealroom`` command line."""
