"""codegov: keep medical billing code sets, inventories and playbooks current."""

__version__ = "0.1.0"
