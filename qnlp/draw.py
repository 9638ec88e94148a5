"""Save a sentence's pregroup diagram and its ansatz circuit as images (for ``qnlp draw SENTENCE``).

DisCoPy draws with matplotlib and would write the file itself; here it draws without saving and the figure is
written atomically with ``tnq.io.save_figure``, the format following each path's suffix (png, pdf, svg, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from discopy.grammar import pregroup
from discopy.quantum.circuit import Circuit

from qnlp.ansatz import IQPAnsatz
from qnlp.errors import QnlpError
from qnlp.rewrite import remove_cups
from tnq.io import save_figure

_FOLIATE_MAX_BOXES = 200


def default_ansatz(diagram: pregroup.Diagram) -> IQPAnsatz:
    """One-layer IQP with one qubit for every atomic type in the diagram."""
    names = {ob.name for box in diagram.boxes for ob in (box.dom @ box.cod).inside}
    names |= {ob.name for ob in diagram.cod.inside}
    return IQPAnsatz({name: 1 for name in sorted(names)}, n_layers=1)


def _save(draw: Callable[..., object], path: Path, dpi: int) -> None:
    import matplotlib.pyplot as plt

    if not path.parent.is_dir():
        raise QnlpError(f"cannot save drawing to {str(path)!r}: folder {str(path.parent)!r} does not exist")
    before = set(plt.get_fignums())
    try:
        draw(show=False)
        figure = plt.gcf()
        try:
            save_figure(figure, path, dpi=dpi)
        except ValueError as exc:  # unknown image format
            raise QnlpError(f"cannot save drawing to {str(path)!r}: {exc}") from None
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def save_drawings(diagram: pregroup.Diagram, diagram_path: str | Path, circuit_path: str | Path,
                  ansatz: Callable[[pregroup.Diagram], Circuit] | None = None, rewrite: bool = False,
                  dpi: int = 120) -> Circuit:
    """Draw ``diagram`` to ``diagram_path`` and its circuit under ``ansatz`` (default: ``default_ansatz``)
    to ``circuit_path``; with ``rewrite`` the cups are removed first (both images show the rewritten diagram).
    Small circuits are drawn with commuting gates merged into one layer (DisCoPy's foliation).
    Returns the circuit (unfoliated)."""
    if not isinstance(diagram, pregroup.Diagram):
        raise QnlpError(f"save_drawings expects a DisCoPy pregroup diagram, got {type(diagram).__name__}")
    if rewrite:
        diagram = remove_cups(diagram)
    circuit = (ansatz or default_ansatz(diagram))(diagram)
    _save(lambda **kw: diagram.draw(**kw), Path(diagram_path), dpi)
    drawn = circuit.foliation() if len(circuit.boxes) <= _FOLIATE_MAX_BOXES else circuit  # foliation is quadratic
    _save(lambda **kw: drawn.draw(**kw), Path(circuit_path), dpi)
    return circuit
