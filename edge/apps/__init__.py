"""Apps behind one protocol (edge.apps.base.App), each in its own folder. A new app: a folder with its policy and
app modules, and one line here."""

from edge.registry import Registry

APPS = Registry("app", "set `app:` to one of: {known}")
APPS.lazy("doorbell", "edge.apps.doorbell.app:DoorbellApp")
APPS.lazy("shelf", "edge.apps.shelf.app:ShelfApp")
