"""The doorbell: faces tracked, embedded, matched against the gallery and voted on (policy), run by app."""
