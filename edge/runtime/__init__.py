from edge.runtime.card_model import CardModel

__all__ = ["CardModel"]
