"""yima routing service."""
