"""Kubernetes operator that runs Kerberos Vault machine-learning extensions as GPU Deployments."""
