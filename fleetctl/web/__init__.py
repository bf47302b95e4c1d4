"""`edgekit fleet ui`: the operator's page over the fleet store (workstation side; devices never import it)."""
