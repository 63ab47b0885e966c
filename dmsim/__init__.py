"""dmsim: agent-based simulation of distributed-manufacturing ecosystems in the Global South."""

__version__ = "0.1.0"
