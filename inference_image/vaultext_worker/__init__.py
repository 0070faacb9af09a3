"""Kerberos Vault extension runtime and the default YOLO inference worker."""

__version__ = "0.1.0"
