"""Kafka message schemas kafka-python does not ship, in the JSON form its protocol classes load."""
