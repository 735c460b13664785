"""Rollproof node package."""
