"""Rollproof chain package."""
