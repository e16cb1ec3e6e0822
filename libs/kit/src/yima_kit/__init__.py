"""yima_kit — infrastructure shared by the services (outbox, idempotent consumers, dead letters, Mongo,
settings, logging, health, field encryption). It knows no domain: cases, units and risk live in the
services. See docs/adr/0001-workspace-layout.md for why this exists beside contracts/.
"""
