from edge.runtime.card_model import CardModel

Model = CardModel  # the name before the seam took preprocessing and decoding in (fleet tests load models by it)

__all__ = ["CardModel", "Model"]
