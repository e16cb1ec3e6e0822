"""yima insight: the one table (一张表), rankings and reports, materialised from every event."""
