"""The trusted core: everything that can see a plaintext byte or a key lives in this package.

It has a narrow interface of actions (:class:`~sealroom.enclave.core.TrustedCore`): publish a
room, publish a dataset, run a job, fetch a result, stop a room, read the audit log. Each action
is authorised against the room definition, applied and recorded in the room's audit log, in that
order, before anything is returned. Everything it reads from the host is treated as untrusted.
"""
