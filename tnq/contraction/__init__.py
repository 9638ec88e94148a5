"""Contraction-path machinery: circuit -> tensor network -> cached cotengra tree -> contraction."""

from .execute import ContractionReport, contract
from .network import Network, absorb_basis_vectors, amplitude_network, expectation_network, marginal_network
from .paths import DEFAULT_CACHE, TreeCache, fit_to_budget

__all__ = ["ContractionReport", "contract", "Network", "absorb_basis_vectors", "amplitude_network",
           "expectation_network", "marginal_network", "DEFAULT_CACHE", "TreeCache", "fit_to_budget"]
