"""yima intake service."""
