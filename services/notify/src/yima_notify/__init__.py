"""yima notify service."""
