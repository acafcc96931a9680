"""Inkwell: a users-and-posts API service."""

__version__ = "0.1.0"
