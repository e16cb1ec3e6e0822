"""Routing's HTTP API, one router per audience: :mod:`.auth` (the public directory and staff sign-in),
:mod:`.staff` (reading a unit's queue and its cases), :mod:`.actions` (dispatch and supervision),
:mod:`.joint` (吹哨报到), :mod:`.admin_directory` and :mod:`.admin_rules` (admins). Every route reaches routing
through :func:`.common.web` (``app.state.routing_web``); none touches a collection."""

from __future__ import annotations

from fastapi import FastAPI

from . import actions, admin_directory, admin_rules, auth, joint, staff
from .common import Web, install_error_handlers

__all__ = ["Web", "install", "install_error_handlers"]


def install(app: FastAPI, web: Web) -> None:
    app.state.routing_web = web
    install_error_handlers(app)
    for module in (auth, admin_directory, admin_rules, staff, actions, joint):
        app.include_router(module.router)
