from edge.runtime.model import Model

__all__ = ["Model"]
