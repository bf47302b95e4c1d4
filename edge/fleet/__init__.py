"""Reporting and fleet management over MQTT: the disk outbox, the device link, commands."""
