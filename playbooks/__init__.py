"""Specialty coding playbooks: YAML content, its loader and validator, and the site renderer."""
