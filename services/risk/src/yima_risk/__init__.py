"""yima risk service."""
