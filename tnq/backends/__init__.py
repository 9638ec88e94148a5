"""Simulation backends; each exposes ``run(gates, num_wires, wire_of, **options) -> State``."""
