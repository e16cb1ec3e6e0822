from yima_kit.logging import get_logger

log = get_logger("yima_mediation")
