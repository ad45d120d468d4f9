"""The registry behind the sensor's /metrics, with every metric the sensor serves."""

from prometheus_client import CollectorRegistry


def sensor_registry() -> CollectorRegistry:
    from poundcake.dedup import DedupCache
    from poundcake.metrics import SensorMetrics
    from poundcake.state_metrics import RemediationMetrics

    metrics = SensorMetrics()
    metrics.watch_dedup(DedupCache(60, 10))
    RemediationMetrics(metrics.registry)
    return metrics.registry
