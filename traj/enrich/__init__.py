"""Enrichment of demonstration steps by a vision model, cached as events."""
