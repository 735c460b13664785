"""Rollproof verifier package."""
