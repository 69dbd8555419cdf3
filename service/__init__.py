"""Snapshot: a self-hosted screenshot service for Kubernetes."""

__version__ = "1.0.0"
