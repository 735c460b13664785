"""Tasks as this node sees them: the chain view, their beacons, and the Settlement obligations."""
