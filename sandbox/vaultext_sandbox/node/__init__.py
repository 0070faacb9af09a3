"""A real Kubernetes node for the sandbox: kubelet, containerd, runc and CNI on a bridge the sandbox owns."""
