"""yima mediation service."""
