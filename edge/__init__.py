"""edgekit device side: capture, inference, decisions, reporting. Never imports TensorFlow or `converters`."""

__version__ = "0.1.0"
