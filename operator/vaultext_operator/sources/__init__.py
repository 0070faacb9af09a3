"""Where lag comes from (Kafka admin API, Prometheus) and how topics are bound; the only Kafka/Prometheus I/O."""
