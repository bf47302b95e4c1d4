"""Shelf inventory: zone counts from detections (policy), the models wired (run), run by app."""
