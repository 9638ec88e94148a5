"""The ``tnq`` command line: ``tnq simulate FILE.qasm`` and ``tnq tour`` (entry point ``tnq.cli.main:main``)."""
