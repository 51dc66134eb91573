"""sevDesk API v1 emulator (see ``sandbox.sevdesk.app``)."""

from .app import create_app

__all__ = ["create_app"]
