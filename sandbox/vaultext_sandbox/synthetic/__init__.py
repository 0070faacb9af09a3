"""Fixtures generated here, never downloaded: recordings (PyAV) and a checkable ONNX detector."""
