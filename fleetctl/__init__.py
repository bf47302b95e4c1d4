"""The operator's side of the fleet (a workstation, never the device): the MQTT client that lists devices, sends
signed commands and pushes signed models. The device side (edge/) never imports this package."""
