"""管理员 (admin): rules, staff accounts, units, notification contacts and failed deliveries."""

from .routes import router

__all__ = ["router"]
