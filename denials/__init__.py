"""Denial monitoring from 835 remittances: read, store, classify, join, summarise (one stage per module)."""
