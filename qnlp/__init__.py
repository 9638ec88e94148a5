"""Quantum NLP front-end: text -> DisCoPy diagrams -> tnq circuits (see the QNLP issue)."""
